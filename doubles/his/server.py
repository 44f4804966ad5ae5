"""The simulator served over the HIS HTTP contract (docs/his-api.md), with signed requests.

Every request must carry X-His-App-Id, X-His-Timestamp (unix seconds, within 300 s),
X-His-Nonce (never seen before; kept in the simulator database) and X-His-Signature.
Successful answers are ``{"data": ...}``; errors are ``{"code": ..., "message": ...}`` with 4xx.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from app.his import errors
from app.his.codec import DecodeError, from_plain, to_plain
from app.his.interface import BillItem
from app.his.signing import HIS_HEADERS, MAX_SKEW_SECONDS, SignatureRejected, check_signed
from .simulator import SimulatorHis
from .simulator.models import NonceRow

log = logging.getLogger(__name__)
PREFIX = "/his/v1"


def _json(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, mimetype="application/json")


def _error(exc: errors.HisError, status: int | None = None) -> Response:
    return _json({"code": exc.code, "message": exc.message}, status or exc.http_status)


def _body() -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise errors.InvalidRequest("body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise errors.InvalidRequest("body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, tp: Any = str, required: bool = True) -> Any:
    if name not in data or data[name] is None:
        if required:
            raise errors.InvalidRequest(f"{name} is required")
        return None
    try:
        return from_plain(tp, data[name])
    except (DecodeError, ValueError) as exc:
        raise errors.InvalidRequest(f"{name}: {exc}") from exc


def _query(name: str, tp: Any = str, required: bool = False) -> Any:
    return _field(dict(request.args), name, tp, required)


def _signed_path() -> str:
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw and raw.startswith(PREFIX):
        return str(raw)
    query = request.query_string.decode("latin-1")
    return quote(request.path) + (f"?{query}" if query else "")


def create_his_server(
    db_url: str,
    app_id: str,
    secret: str,
    his: SimulatorHis | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> Flask:
    """A Flask app serving one SimulatorHis under /his/v1 to one caller (app_id, secret).

    Rejects (401 ``unauthorized``) unknown app ids, bad signatures, timestamps more than 300 s
    away and replayed nonces.  ``his`` may be passed to share a simulator (tests).
    """
    if not app_id or not secret:
        raise ValueError("the HIS server needs an app id and a secret")
    sim = his or SimulatorHis(db_url)
    app = Flask("his_simulator")
    app.config["HIS_SIMULATOR"] = sim

    def authenticate() -> None:
        try:
            nonce = check_signed(request.headers, request.method, _signed_path(), request.get_data(cache=True),
                                 app_id, secret, names=HIS_HEADERS, now=wall_clock(), min_nonce=8)
        except SignatureRejected as exc:
            raise errors.HisAuthError(exc.reason) from None
        seen = dt.datetime.fromtimestamp(wall_clock(), dt.UTC).replace(tzinfo=None)
        try:
            with sim.unit() as s:
                s.add(NonceRow(app_id=app_id, nonce=nonce, seen_at=seen))
        except IntegrityError as exc:
            raise errors.HisAuthError("nonce already used (replay refused)") from exc
        _prune_nonces(seen)

    pruned = {"at": 0.0}

    def _prune_nonces(seen: dt.datetime) -> None:
        """Old nonces go at most once a minute per process, in a transaction of their own: deleting a
        range on every call made concurrent calls deadlock on MariaDB (gap locks), and a nonce older
        than twice the signature window can never be replayed anyway (its timestamp is refused)."""
        if wall_clock() - pruned["at"] < 60:
            return
        pruned["at"] = wall_clock()
        try:
            with sim.unit() as s:
                s.execute(delete(NonceRow).where(NonceRow.seen_at < seen - dt.timedelta(seconds=2 * MAX_SKEW_SECONDS)))
        except OperationalError as exc:  # another process pruning at the same moment: next minute
            log.info("HIS nonce pruning skipped: %s", type(exc).__name__)

    @app.before_request
    def _check_signature() -> Response | None:
        if not request.path.startswith(PREFIX):
            return None
        try:
            authenticate()
        except errors.HisAuthError as exc:
            log.warning("HIS request refused: %s %s: %s", request.method, request.path, exc)
            return _error(exc)
        return None

    @app.errorhandler(errors.HisError)
    def _his_error(exc: errors.HisError) -> Response:
        return _error(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = {404: "unknown_endpoint", 405: "method_not_allowed"}.get(exc.code or 0)
        status = exc.code or 400
        return _json({"code": code or "invalid_request", "message": exc.description}, status)

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        log.exception("HIS simulator failed")
        return _json({"code": "internal_error", "message": "HIS internal error"}, 500)

    def route(rule: str, method: str = "GET") -> Callable[[Callable[..., Any]], Any]:
        def wrap(fn: Callable[..., Any]) -> Any:
            def view(**kwargs: Any) -> Response:
                return _json({"data": to_plain(fn(**kwargs))})

            app.add_url_rule(PREFIX + rule, fn.__name__, view, methods=[method])
            return fn

        return wrap

    @route("/health")
    def health() -> Any:
        return sim.health()

    @route("/departments")
    def list_departments() -> Any:
        return sim.list_departments()

    @route("/doctors")
    def list_doctors() -> Any:
        return sim.list_doctors(_query("department_code"))

    @route("/schedules")
    def list_schedules() -> Any:
        return sim.list_schedules(
            _query("date_from", dt.date, required=True),
            _query("date_to", dt.date, required=True),
            _query("department_code"),
            _query("doctor_code"),
        )

    @route("/schedules/<schedule_id>/stop", "POST")
    def stop_schedule(schedule_id: str) -> Any:
        return sim.stop_schedule(schedule_id, _field(_body(), "reason"))

    @route("/locks", "POST")
    def lock_slot() -> Any:
        b = _body()
        return sim.lock_slot(_field(b, "slice_id"), _field(b, "card_no"), _field(b, "order_no"))

    @route("/locks/<lock_id>/confirm", "POST")
    def confirm_registration(lock_id: str) -> Any:
        b = _body()
        return sim.confirm_registration(lock_id, _field(b, "order_no"), _field(b, "paid_fen", int),
                                        _field(b, "trade_no"), _field(b, "channel"))  # fmt: skip

    @route("/locks/<lock_id>/cancel", "POST")
    def cancel_registration(lock_id: str) -> Any:
        b = _body()
        reason = _field(b, "reason", required=False) or ""
        return sim.cancel_registration(lock_id, _field(b, "order_no"), reason)

    @route("/locks/release", "POST")
    def release_lock() -> Any:
        b = _body()
        return sim.release_lock(_field(b, "order_no"), _field(b, "reason", required=False) or "")

    @route("/trades/<trade_no>")
    def trade_status(trade_no: str) -> Any:
        return sim.trade_status(trade_no)

    @route("/attendance")
    def registration_attendance() -> Any:
        return sim.registration_attendance(_query("clinic_date", dt.date, required=True))

    @route("/attendance", "POST")
    def mark_attended() -> Any:
        b = _body()
        return sim.mark_attended(_field(b, "registration"),
                                 _field(b, "attended_at", dt.datetime, required=False))  # fmt: skip

    @route("/locks/<lock_id>/check-in", "POST")
    def check_in(lock_id: str) -> Any:
        return sim.check_in(lock_id, _field(_body(), "order_no"))

    @route("/cards/<card_no>/child-health")
    def child_health_records(card_no: str) -> Any:
        return sim.child_health_records(card_no)

    @route("/invoices/<trade_no>")
    def invoice(trade_no: str) -> Any:
        return sim.invoice(trade_no)

    @route("/cards/verify", "POST")
    def verify_card() -> Any:
        b = _body()
        return sim.verify_card(_field(b, "card_no"), _field(b, "name"),
                               _field(b, "id_number", required=False) or "",
                               _field(b, "guardian_id_number", required=False))

    @route("/cards", "POST")
    def register_card() -> Any:
        b = _body()
        return sim.register_card(_field(b, "name"), _field(b, "id_number"), _field(b, "phone"),
                                 _field(b, "gender", required=False),
                                 _field(b, "birth_date", dt.date, required=False))  # fmt: skip

    @route("/cards/<card_no>/bills")
    def pending_bills(card_no: str) -> Any:
        return sim.pending_bills(card_no)

    @route("/bills", "POST")
    def add_bill() -> Any:
        b = _body()
        raw_items = b.get("items")
        if not isinstance(raw_items, list):
            raise errors.InvalidRequest("items must be a list")
        items = []
        for raw in raw_items:
            if not isinstance(raw, dict):
                raise errors.InvalidRequest("each item must be an object")
            quantity = _field(raw, "quantity", int)
            price = _field(raw, "unit_price_fen", int)
            amount = _field(raw, "amount_fen", int, required=False)
            items.append(BillItem(_field(raw, "name"), _field(raw, "category"),
                                  _field(raw, "spec", required=False) or "", quantity, price,
                                  quantity * price if amount is None else amount))  # fmt: skip
        return sim.add_bill(_field(b, "card_no"), items,
                            _field(b, "department_code", required=False),
                            _field(b, "doctor_code", required=False))  # fmt: skip

    @route("/bills/<bill_no>/settle", "POST")
    def settle_bill(bill_no: str) -> Any:
        b = _body()
        return sim.settle_bill(bill_no, _field(b, "amount_fen", int), _field(b, "trade_no"),
                               _field(b, "channel"))  # fmt: skip

    @route("/bills/<bill_no>/refund", "POST")
    def refund_bill(bill_no: str) -> Any:
        b = _body()
        return sim.refund_bill(bill_no, _field(b, "amount_fen", int), _field(b, "refund_no"))

    @route("/cards/<card_no>/queue")
    def queue_status(card_no: str) -> Any:
        return sim.queue_status(card_no)

    @route("/queues")
    def queue_counts() -> Any:
        return sim.queue_counts(_query("kind"))

    @route("/queues/<area_code>/advance", "POST")
    def advance_queue(area_code: str) -> Any:
        return sim.advance_queue(area_code)

    @route("/cards/<card_no>/reports")
    def list_reports(card_no: str) -> Any:
        return sim.list_reports(card_no)

    @route("/cards/<card_no>/reports/<report_id>")
    def get_report(card_no: str, report_id: str) -> Any:
        return sim.get_report(report_id, card_no)

    @route("/reports/<report_id>/ready", "POST")
    def mark_report_ready(report_id: str) -> Any:
        return sim.mark_report_ready(report_id)

    @route("/cards/<card_no>/inpatient")
    def inpatient_stay(card_no: str) -> Any:
        return sim.inpatient_stay(card_no)

    @route("/inpatients/<inpatient_no>/deposits")
    def deposit_records(inpatient_no: str) -> Any:
        return sim.deposit_records(inpatient_no)

    @route("/inpatients/<inpatient_no>/deposits", "POST")
    def pay_deposit(inpatient_no: str) -> Any:
        b = _body()
        return sim.pay_deposit(inpatient_no, _field(b, "amount_fen", int), _field(b, "trade_no"),
                               _field(b, "channel"))  # fmt: skip

    @route("/inpatients/<inpatient_no>/daily-costs")
    def daily_costs(inpatient_no: str) -> Any:
        return sim.daily_costs(inpatient_no, _query("day", dt.date, required=True))

    @route("/inpatients/<inpatient_no>/total-cost")
    def total_cost(inpatient_no: str) -> Any:
        return sim.total_cost(inpatient_no)

    return app
