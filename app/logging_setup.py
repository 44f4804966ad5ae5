"""Structured, one-line logs that an on-call engineer can grep at 3 a.m.

Every line is a JSON object carrying the request id (X-Request-ID from the proxy, or a new one), so
one patient's complaint can be followed through web, task and channel logs; the formatter and the
request id's journey into Huey tasks live in ``app.operations.logs``.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request

from app.operations import logs


def configure_logging(app: Flask) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_hospital", False) for h in root.handlers):
        handler = logs.handler()
        handler._hospital = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        for noisy in ("flask_appbuilder", "werkzeug"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    @app.before_request
    def _assign_request_id() -> None:
        rid = logs.clean_request_id(request.headers.get("X-Request-ID"))
        g.request_id = rid
        # kept on this request (not on g, which a nested test_request_context shares and tears down)
        request.environ["hospital.request_id_token"] = logs.request_id_var.set(rid)

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        return response

    @app.teardown_request
    def _forget_request_id(_exc=None) -> None:
        token = request.environ.pop("hospital.request_id_token", None)
        if token is not None:
            try:
                logs.request_id_var.reset(token)
            except ValueError:  # set in another context (a streamed response): nothing to undo
                logs.request_id_var.set(None)
