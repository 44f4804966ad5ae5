"""Fixtures for the channel adapters: the sandbox on a free local port, the adapters built by
``make_channels`` against it, and a tiny "platform" that receives notifications on another
port and verifies them with the adapters, as the real notify endpoints will.

Nothing here depends on the application factory or its database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tests.unit.channels.channel_helpers import ChannelEnv, Receiver, ServerThread
from flask import Flask

from app.channels import make_channels
from doubles.channels import register_sandbox


@pytest.fixture(scope="session")
def channel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelEnv]:
    root = tmp_path_factory.mktemp("payment-sandbox")
    keys_dir = root / "keys"
    sandbox_app = Flask("sandbox-under-test")
    sandbox = register_sandbox(
        sandbox_app,
        url_prefix="/sandbox",
        state_db_url=f"sqlite:///{root / 'state.db'}",
        keys_dir=str(keys_dir),
        inline_retry_delay_s=0.05,
        refund_delay_s=0.1,
    )
    sandbox_server = ServerThread(sandbox_app)
    receiver = Receiver()
    receiver_server = ServerThread(receiver.app())
    config = {
        "PAYMENT_MODE": "sandbox",
        "SANDBOX_BASE_URL": f"{sandbox_server.url}/sandbox",
        "SANDBOX_KEYS_DIR": str(keys_dir),
        "WECHAT_REFUND_NOTIFY_URL": f"{receiver_server.url}/notify/wechat/refund",
    }
    receiver.channels.update(make_channels(config))
    yield ChannelEnv(sandbox, receiver.channels, sandbox_server.url, receiver, receiver_server.url, keys_dir, config)
    receiver_server.stop()
    sandbox_server.stop()


@pytest.fixture
def env(channel_env: ChannelEnv) -> Iterator[ChannelEnv]:
    channel_env.receiver.fail_next = 0
    channel_env.receiver.fail_orders.clear()
    yield channel_env
    channel_env.receiver.fail_next = 0
    channel_env.receiver.fail_orders.clear()


@pytest.fixture
def order_no() -> str:
    return "T" + uuid.uuid4().hex[:20].upper()
