"""One JSON line per event, with the request id that follows a request into the tasks it causes.

Every line has ``time`` (UTC), ``level``, ``logger``, ``message``, ``request_id``; inside a request
also ``path``; inside a Huey task ``task``; and ``order_no`` whenever the line is about an order (the
payment core writes ``order=<no>`` in its messages; the number is lifted into its own field, so
``jq 'select(.order_no=="GH…")'`` finds one payment's whole story across web and worker logs).

The request id comes from the proxy's ``X-Request-ID`` (or a new one) and lives in a context
variable: ``task_kwargs()`` hands it to every task enqueued while it is set, and the task wrapper
(``app.tasks.app_context_task``) restores it in the worker, so the confirmation and refund a
payment notification caused carry the notification's id.

No personal data: messages name orders, ids and counts, never names, ID numbers or phones. As a last
line of defence the formatter masks anything shaped like a mainland mobile number or a resident ID
number (GB 11643) before it is written.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from pythonjsonlogger.json import JsonFormatter

from app import clock

#: the request (or task) id of the work this thread is doing
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
#: the task this thread is running, if any
task_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task", default=None)

TASK_KWARG = "_request_id"  # the keyword a task carries its request id in (popped before the task runs)

_ORDER = re.compile(r"\border(?:_no)?=([A-Z]{2}\d{10,30})")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![\dA-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![\dA-Za-z])")


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def clean_request_id(value: str | None) -> str:
    """The proxy's X-Request-ID when it is a plain token, else a new id (a header is hostile input)."""
    return value if value and _SAFE_ID.fullmatch(value) else new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


def scrub(text: str) -> str:
    """Mask mobile numbers and resident ID numbers (a log is no place for personal data)."""
    return _ID_NUMBER.sub(r"\1********\2", _PHONE.sub(r"\1****\2", text))


def task_kwargs() -> dict[str, str]:
    """The keyword arguments that carry the current request id into a task enqueued now."""
    rid = current_request_id()
    return {TASK_KWARG: rid} if rid else {}


@contextmanager
def bound(request_id: str | None = None, task: str | None = None) -> Iterator[str]:
    """Run a block (a task, a CLI command) under a request id: the given one or a new one."""
    rid = request_id or new_request_id()
    tokens = [request_id_var.set(rid)]
    if task is not None:
        tokens.append(task_var.set(task))
    try:
        yield rid
    finally:
        for var, token in zip((request_id_var, task_var), tokens, strict=False):
            var.reset(token)


class HospitalJsonFormatter(JsonFormatter):
    """pythonjsonlogger's formatter with the platform's fields, masked."""

    def add_fields(self, log_record: dict, record: logging.LogRecord, message_dict: dict) -> None:
        super().add_fields(log_record, record, message_dict)
        message = scrub(record.getMessage())
        ordered = {"time": clock.utcnow().isoformat(timespec="milliseconds") + "Z", "level": record.levelname,
                   "logger": record.name, "message": message, "request_id": current_request_id() or "-"}
        path = getattr(record, "path", None) or _request_path()
        if path:
            ordered["path"] = path
        task = task_var.get()
        if task:
            ordered["task"] = task
        order_no = getattr(record, "order_no", None)
        if order_no is None:
            found = _ORDER.search(message)
            order_no = found.group(1) if found else None
        if order_no:
            ordered["order_no"] = order_no
        if record.exc_info and "exc_info" in log_record:
            ordered["exc_info"] = scrub(str(log_record["exc_info"]))
        for key, value in log_record.items():
            if key not in ordered and key not in ("exc_info", "message"):
                ordered[key] = scrub(value) if isinstance(value, str) else value
        log_record.clear()
        log_record.update(ordered)


def _request_path() -> str | None:
    from flask import has_request_context, request

    return request.path if has_request_context() else None


def handler() -> logging.Handler:
    """A stderr handler writing one JSON line per event."""
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(HospitalJsonFormatter(json_ensure_ascii=False))
    return out
