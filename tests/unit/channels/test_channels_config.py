"""make_channels, key generation, and mounting the sandbox into an existing app."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask_wtf.csrf import CSRFProtect

from app.channels import AlipayChannel, WechatPayChannel, make_channels
from doubles.channels import PaymentSandbox, register_sandbox, settings_from_config
from doubles.channels.keys import ensure_sandbox_keys
from tests.unit.channels.channel_helpers import ChannelEnv


def live_config(keys_dir: Path) -> dict[str, str]:
    keys = ensure_sandbox_keys(keys_dir)
    return {
        "PAYMENT_MODE": "live",
        "WECHAT_APPID": "wx1234567890abcdef",
        "WECHAT_MCHID": "1230000109",
        "WECHAT_PAY_PRIVATE_KEY": str(keys.wechat_merchant_key),
        "WECHAT_PAY_CERT_SERIAL": keys.wechat_merchant_serial,
        "WECHAT_PAY_APIV3_KEY": keys.wechat_apiv3_key,
        "WECHAT_PAY_PUBLIC_KEY": str(keys.wechat_public_key),
        "WECHAT_PAY_PUBLIC_KEY_ID": keys.wechat_public_key_id,
        "ALIPAY_APPID": "2021004100000000",
        "ALIPAY_PRIVATE_KEY": str(keys.alipay_app_key),
        "ALIPAY_PUBLIC_KEY": str(keys.alipay_public_key),
        "ALIPAY_SELLER_ID": "2088123456789012",
    }


def test_live_mode_builds_both_channels_without_network(channel_env: ChannelEnv) -> None:
    channels = make_channels(live_config(channel_env.keys_dir))
    wechat, alipay = channels["wechat"], channels["alipay"]
    assert isinstance(wechat, WechatPayChannel) and isinstance(alipay, AlipayChannel)
    assert wechat.gateway == "https://api.mch.weixin.qq.com" and wechat.sandbox_cashier_url is None
    assert alipay.gateway == "https://openapi.alipay.com/gateway.do"
    assert (wechat.appid, wechat.mchid, alipay.app_id, alipay.seller_id) == (
        "wx1234567890abcdef", "1230000109", "2021004100000000", "2088123456789012")
    # building the WeChat client is lazy: nothing has been fetched yet
    assert wechat._client is None
    # the wap cashier URL is built locally and points at the production gateway
    start = alipay.create_payment("O1", 1, "挂号费", None, "https://h.example/notify/alipay", None, None)
    assert start.redirect_url.startswith("https://openapi.alipay.com/gateway.do?")


def test_live_mode_refuses_missing_credentials(channel_env: ChannelEnv) -> None:
    cfg = live_config(channel_env.keys_dir)
    del cfg["WECHAT_PAY_APIV3_KEY"]
    with pytest.raises(ValueError, match="WECHAT_PAY_APIV3_KEY"):
        make_channels(cfg)
    cfg = live_config(channel_env.keys_dir)
    del cfg["WECHAT_PAY_PUBLIC_KEY_ID"]
    with pytest.raises(ValueError, match="PUBLIC_KEY"):
        make_channels(cfg)
    with pytest.raises(ValueError, match="PAYMENT_MODE"):
        make_channels({"PAYMENT_MODE": "test"})


def test_sandbox_ids_come_from_config(channel_env: ChannelEnv) -> None:
    channels = make_channels(dict(channel_env.config, WECHAT_APPID="wxOWN", ALIPAY_APPID="2021000000000042"))
    assert channels["wechat"].appid == "wxOWN" and channels["alipay"].app_id == "2021000000000042"
    assert channels["wechat"].gateway.endswith("/sandbox/wechatpay")
    assert channels["alipay"].gateway.endswith("/sandbox/alipay/gateway.do")


def test_keys_are_generated_once(tmp_path: Path) -> None:
    first = ensure_sandbox_keys(tmp_path / "k")
    second = ensure_sandbox_keys(tmp_path / "k")
    assert first == second
    assert first.wechat_merchant_key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert first.wechat_platform_cert.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert len(first.wechat_apiv3_key) == 32
    assert (first.wechat_merchant_key.stat().st_mode & 0o777) == 0o600


def test_state_is_shared_through_the_database(channel_env: ChannelEnv) -> None:
    """A second sandbox process on the same files sees the same trades and notifications."""
    other = PaymentSandbox(channel_env.sandbox.settings)
    assert other.notifications() == channel_env.sandbox.notifications()


def test_register_sandbox_into_an_app_with_csrf(channel_env: ChannelEnv, tmp_path: Path) -> None:
    app = Flask("host-app", instance_path=str(tmp_path / "instance"))
    app.config.update(SECRET_KEY="x", WTF_CSRF_ENABLED=True, SANDBOX_KEYS_DIR=str(channel_env.keys_dir),
                      WECHAT_APPID="wx_from_config")
    CSRFProtect(app)
    sandbox = register_sandbox(app, url_prefix="/sandbox", refund_delay_s=0.2)
    assert app.extensions["payment_sandbox"] is sandbox
    assert sandbox.settings.wechat_appid == "wx_from_config" and sandbox.settings.refund_delay_s == 0.2
    assert Path(sandbox.store.path).parent == tmp_path / "instance"
    client = app.test_client()
    # posted by the sandbox pages and the SDKs, never with a CSRF token
    assert client.post("/sandbox/alipay/gateway.do", data={"method": "alipay.trade.query"}).status_code == 200
    assert client.post("/sandbox/wechatpay/cashier/cancel").status_code == 200
    assert client.post("/sandbox/notifications/deliver-due").status_code == 200


def test_unknown_sandbox_setting_is_an_error() -> None:
    with pytest.raises(TypeError):
        settings_from_config({}, refund_dely_s=1)
