"""The HIS call journal: every call about an order (lock, confirm, cancel, settle, deposit, refund, the
trade check) with its answer, kept beside the order so 订单全链路 shows what the HIS was asked and said.

The row joins the caller's transaction (committed with what the answer changed, rolled back with it);
nothing personal is kept (card numbers, names and ID numbers are not among the recorded arguments).
"""

from __future__ import annotations

import functools
import json
import logging
import time

from flask import has_app_context

log = logging.getLogger("his")

#: method -> the arguments that identify the call; the first one present is the row's ``ref``
JOURNALED = {
    "lock_slot": ("order_no", "slice_id"),
    "confirm_registration": ("order_no", "trade_no", "lock_id", "paid_fen", "channel"),
    "cancel_registration": ("order_no", "lock_id", "reason"),
    "release_lock": ("order_no", "reason"),
    "check_in": ("order_no", "lock_id"),
    "settle_bill": ("trade_no", "bill_no", "amount_fen", "channel"),
    "pay_deposit": ("trade_no", "inpatient_no", "amount_fen", "channel"),
    "refund_bill": ("refund_no", "bill_no", "amount_fen"),
    "trade_status": ("trade_no",),
}


def _short(value, limit: int = 600) -> str:
    from app.his.codec import to_plain

    try:
        text = json.dumps(to_plain(value), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _journaled(name: str, method, keys: tuple[str, ...]):
    import inspect

    from app.his.interface import HisGateway

    # the interface's signature: the method itself may already be wrapped (metrics) as (*args, **kwargs)
    signature = inspect.signature(getattr(HisGateway, name))

    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            bound = signature.bind_partial(None, *args, **kwargs).arguments
        except TypeError:
            bound = {}
        request = {k: bound[k] for k in keys if k in bound}
        started = time.perf_counter()
        outcome, answer = "ok", None
        try:
            result = method(*args, **kwargs)
            answer = _short(result)
            return result
        except Exception as exc:
            from app.his.errors import HisBusinessError, HisUnavailable

            outcome = ("unavailable" if isinstance(exc, HisUnavailable) else
                       f"refused:{getattr(exc, 'code', type(exc).__name__)}" if isinstance(exc, HisBusinessError)
                       else f"error:{type(exc).__name__}")
            answer = str(exc)[:600]
            raise
        finally:
            _record(name, request, outcome, answer, int((time.perf_counter() - started) * 1000))

    call._journaled = True  # type: ignore[attr-defined]
    return call


@functools.cache
def _insert_statement():
    """Built once (its cache key kept with it): a journal row is written by every call about an order."""
    from app.models import HisCall

    return HisCall.__table__.insert()


def _record(name: str, request: dict, outcome: str, answer: str | None, duration_ms: int) -> None:
    if not has_app_context() or not request:
        return
    from app.services import uow

    ref = str(next(iter(request.values())))[:64]
    try:  # a Core INSERT in the session's transaction (an append-only row nobody reads in the request)
        uow.execute(_insert_statement(), {
            "method": name, "ref": ref, "request": _short(request, 300), "outcome": outcome[:64],
            "answer": answer, "duration_ms": duration_ms})
    except Exception:  # the journal never stands in the way of the call itself
        log.warning("HIS call journal not written method=%s ref=%s", name, ref, exc_info=True)


def journal_his(gateway):
    """Wrap the order-related methods of ``gateway`` (in place, like the metrics' timing)."""
    for name, keys in JOURNALED.items():
        method = getattr(gateway, name, None)
        if method is not None and not getattr(method, "_journaled", False):
            setattr(gateway, name, _journaled(name, method, keys))
    return gateway
