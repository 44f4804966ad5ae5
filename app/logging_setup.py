"""Structured, one-line logs that an on-call engineer can grep at 3 a.m.

Every line carries the request id (X-Request-ID from the proxy, or a new one) so one patient's
complaint can be followed through web, task and channel logs.
"""

from __future__ import annotations

import logging
import sys
import uuid

from flask import Flask, g, has_request_context, request


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = getattr(g, "request_id", "-")
            record.path = request.path
        else:
            record.request_id = "-"
            record.path = "-"
        return True


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_hospital", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._hospital = True  # type: ignore[attr-defined]
        handler.addFilter(RequestContextFilter())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s %(path)s] %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for noisy in ("flask_appbuilder", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    @app.before_request
    def _assign_request_id() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return response
