"""Helpers for the channel tests: a threaded local server, the notification receiver (the
"platform" side) and the sandbox cashier driven over HTTP like a patient's browser."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from flask import Flask, request
from werkzeug.serving import make_server

from app.channels import ChannelError, PaymentChannel, PaymentNotification, RefundNotification
from doubles.channels import PaymentSandbox


class ServerThread:
    """A threaded werkzeug server on a free port, stopped at teardown."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@dataclass
class Received:
    """One notification as the platform received it, and what the adapter made of it."""

    path: str
    headers: dict[str, str]
    body: bytes
    parsed: Any = None
    error: ChannelError | None = None


@dataclass
class Receiver:
    """The platform side: verifies each notification with the adapter and answers its ack."""

    channels: dict[str, PaymentChannel] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    # failures for one order only: a notification of an earlier test (a refund finished on a sandbox thread)
    # may arrive during this one and must not take the failures meant for this order
    fail_orders: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Flask:
        flask_app = Flask("receiver")

        @flask_app.post("/notify/<channel>/<kind>")
        def notify(channel: str, kind: str) -> Any:
            item = Received(request.path, dict(request.headers), request.get_data())
            adapter = self.channels[channel]
            with self.lock:
                self.received.append(item)
                failing = self.fail_next > 0
                if failing:
                    self.fail_next -= 1
            if failing:
                body, status, content_type = adapter.notification_ack(False, "busy")
                return body, status, {"Content-Type": content_type}
            # one endpoint per channel takes any notification (Alipay posts refunds to the
            # payment notify_url); /payment and /refund use the specific parsers
            parse = {"refund": adapter.parse_refund_notification, "payment": adapter.parse_payment_notification}.get(
                kind, adapter.parse_notification
            )
            try:
                parsed = parse(item.headers, item.body)
                ok = True
            except ChannelError as exc:
                item.error = exc
                ok = False
            else:
                with self.lock:
                    owed = self.fail_orders.get(getattr(parsed, "order_no", ""), 0)
                    if owed > 0:
                        self.fail_orders[parsed.order_no] = owed - 1
                if owed > 0:
                    body, status, content_type = adapter.notification_ack(False, "busy")
                    return body, status, {"Content-Type": content_type}
                item.parsed = parsed
            body, status, content_type = adapter.notification_ack(ok)
            return body, status, {"Content-Type": content_type}

        return flask_app

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 10.0) -> Received:
        """The first received notification matching ``predicate``, waiting for it if needed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for item in self.received:
                    if predicate(item):
                        return item
            time.sleep(0.02)
        raise AssertionError("notification not received in time")

    def for_order(self, order_no: str, kind: str = "payment") -> list[Received]:
        """Verified notifications of one kind received for an order."""
        with self.lock:
            wanted = RefundNotification if kind == "refund" else PaymentNotification
            return [r for r in self.received
                    if isinstance(r.parsed, wanted) and r.parsed.order_no == order_no]

    def wait_order(self, order_no: str, kind: str = "payment", count: int = 1) -> list[Received]:
        """Wait until ``count`` verified notifications of a kind arrived for an order."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = self.for_order(order_no, kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"{count} {kind} notification(s) for {order_no} not received")


@dataclass
class ChannelEnv:
    """Everything a channel test needs."""

    sandbox: PaymentSandbox
    channels: dict[str, PaymentChannel]
    sandbox_url: str
    receiver: Receiver
    receiver_url: str
    keys_dir: Path
    config: dict[str, Any]

    def notify_url(self, channel: str, kind: str = "payment") -> str:
        return f"{self.receiver_url}/notify/{channel}/{kind}"

    @property
    def wechat(self) -> Any:
        return self.channels["wechat"]

    @property
    def alipay(self) -> Any:
        return self.channels["alipay"]


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_FORM = re.compile(r'<form method="post" action="([^"]+)">')


def cashier_forms(page_url: str, page_html: str) -> tuple[str, str, dict[str, str]]:
    """(confirm URL, cancel URL, hidden fields) of a sandbox cashier page."""
    actions = [urljoin(page_url, html.unescape(a)) for a in _FORM.findall(page_html)]
    fields = {k: html.unescape(v) for k, v in _HIDDEN.findall(page_html)}
    assert len(actions) == 2, page_html
    return actions[0], actions[1], fields


def open_cashier(url: str) -> tuple[requests.Response, str, str, dict[str, str]]:
    """GET a cashier page and return it with its form targets."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    confirm, cancel, fields = cashier_forms(page.url, page.text)
    return page, confirm, cancel, fields


def tap(url: str, fields: dict[str, str]) -> requests.Response:
    """Submit a cashier button without following the redirect."""
    return requests.post(url, data=fields, allow_redirects=False, timeout=30)
