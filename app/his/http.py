"""HttpHis: the HisGateway spoken over the signed JSON contract of docs/his-api.md."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

from . import errors
from .codec import DecodeError, from_plain, to_plain
from .interface import (
    Attendance,
    Bill,
    CheckIn,
    ChildCheck,
    Invoice,
    BillItem,
    BillRefund,
    ClinicSession,
    CostSummary,
    DailyCosts,
    Department,
    DepositRecord,
    Doctor,
    HisGateway,
    HisHealth,
    HospitalCard,
    InpatientStay,
    Patient,
    QueueArea,
    QueueTicket,
    Registration,
    Report,
    ReportSummary,
    Settlement,
    SlotLock,
    TradeStatus,
)
from .signing import signed_headers

API_PREFIX = "/his/v1"


def _seg(value: str) -> str:
    return quote(str(value), safe="")


class HttpHis(HisGateway):
    """Calls a hospital's integration endpoint; every request is signed with HMAC-SHA256.

    Guarantees: connection errors, timeouts, 5xx and answers that break the contract raise
    HisUnavailable; 4xx answers raise the typed error of their ``code``.  No retries: the
    caller decides, relying on the idempotency keys (order_no, trade_no, refund_no).
    """

    def __init__(self, base_url: str, app_id: str, secret: str, timeout: float = 10.0) -> None:
        # Accept the endpoint root with or without the contract prefix ("…/his/v1").
        base = base_url.rstrip("/")
        self.base_url = base.removesuffix(API_PREFIX)
        self.app_id = app_id
        self._secret = secret
        self.timeout = float(timeout)
        # urllib3's pool itself, not requests on top of it: a booking's one HIS call spent two thirds of
        # its client CPU in requests' session, cookie, hook and environment handling (bench/booking_profile.py).
        # Never a proxy from the environment (the HIS is on the hospital network), never a retry (the
        # caller decides, by the idempotency keys), never a redirect (the signature covers the path).
        self._http = urllib3.PoolManager(num_pools=4, maxsize=16, retries=False,
                                         timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))

    def close(self) -> None:
        """Close pooled connections."""
        self._http.clear()

    def _call(
        self,
        method: str,
        path: str,
        result: Any,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        query = {k: to_plain(v) for k, v in (params or {}).items() if v is not None and v != ""}
        signed_path = API_PREFIX + path + (f"?{urlencode(query)}" if query else "")
        raw = b"" if body is None else json.dumps(to_plain(body), ensure_ascii=False).encode()
        headers = signed_headers(self.app_id, self._secret, method, signed_path, raw)
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            resp = self._http.request(method, self.base_url + signed_path, body=raw or None, headers=headers,
                                      redirect=False)
        except TransportTimeout as exc:
            raise errors.HisUnavailable(f"HIS did not answer within {self.timeout:g} s") from exc
        except TransportError as exc:
            raise errors.HisUnavailable(f"HIS unreachable: {type(exc).__name__}") from exc
        status = resp.status
        if status >= 500 or 300 <= status < 400:
            raise errors.HisUnavailable(f"HIS answered HTTP {status}")
        try:
            payload = json.loads(resp.data)
        except ValueError as exc:  # not JSON, or not UTF-8
            raise errors.HisUnavailable(f"HIS answered non-JSON (HTTP {status})") from exc
        if status >= 400:
            if not isinstance(payload, dict):
                raise errors.HisUnavailable(f"HIS answered HTTP {status}")
            code = str(payload.get("code") or "invalid_request")
            raise errors.error_from_code(code, str(payload.get("message") or code))
        if not isinstance(payload, dict) or "data" not in payload:
            raise errors.HisUnavailable("HIS answer has no data")
        try:
            return from_plain(result, payload["data"])
        except (DecodeError, ValueError, TypeError) as exc:
            raise errors.HisUnavailable(f"HIS answer breaks the contract: {exc}") from exc

    # --- system -------------------------------------------------------------------------------
    def health(self) -> HisHealth:
        return self._call("GET", "/health", HisHealth)

    # --- departments, doctors, schedules ------------------------------------------------------
    def list_departments(self) -> tuple[Department, ...]:
        return self._call("GET", "/departments", tuple[Department, ...])

    def list_doctors(self, department_code: str | None = None) -> tuple[Doctor, ...]:
        return self._call(
            "GET", "/doctors", tuple[Doctor, ...], params={"department_code": department_code}
        )

    def list_schedules(
        self,
        date_from: dt.date,
        date_to: dt.date,
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> tuple[ClinicSession, ...]:
        params = {"date_from": date_from, "date_to": date_to,
                  "department_code": department_code, "doctor_code": doctor_code}  # fmt: skip
        return self._call("GET", "/schedules", tuple[ClinicSession, ...], params=params)

    # --- registration -------------------------------------------------------------------------
    def lock_slot(self, slice_id: str, card_no: str, order_no: str) -> SlotLock:
        body = {"slice_id": slice_id, "card_no": card_no, "order_no": order_no}
        return self._call("POST", "/locks", SlotLock, body=body)

    def confirm_registration(
        self, lock_id: str, order_no: str, paid_fen: int, trade_no: str, channel: str
    ) -> Registration:
        body = {"order_no": order_no, "paid_fen": paid_fen, "trade_no": trade_no,
                "channel": channel}  # fmt: skip
        return self._call("POST", f"/locks/{_seg(lock_id)}/confirm", Registration, body=body)

    def cancel_registration(self, lock_id: str, order_no: str, reason: str) -> None:
        body = {"order_no": order_no, "reason": reason}
        self._call("POST", f"/locks/{_seg(lock_id)}/cancel", type(None), body=body)

    def release_lock(self, order_no: str, reason: str) -> None:
        self._call("POST", "/locks/release", type(None), body={"order_no": order_no, "reason": reason})

    def registration_attendance(self, clinic_date: dt.date) -> tuple[Attendance, ...]:
        return self._call("GET", "/attendance", tuple[Attendance, ...],
                          params={"clinic_date": clinic_date})  # fmt: skip

    # --- cards --------------------------------------------------------------------------------
    def verify_card(self, card_no: str, name: str, id_number: str,
                    guardian_id_number: str | None = None) -> Patient:
        body = {"card_no": card_no, "name": name, "id_number": id_number}
        if guardian_id_number:
            body["guardian_id_number"] = guardian_id_number
        return self._call("POST", "/cards/verify", Patient, body=body)

    def register_card(
        self,
        name: str,
        id_number: str,
        phone: str,
        gender: str | None = None,
        birth_date: dt.date | None = None,
    ) -> HospitalCard:
        body = {"name": name, "id_number": id_number, "phone": phone, "gender": gender,
                "birth_date": birth_date}  # fmt: skip
        return self._call("POST", "/cards", HospitalCard, body=body)

    # --- outpatient bills ---------------------------------------------------------------------
    def pending_bills(self, card_no: str) -> tuple[Bill, ...]:
        return self._call("GET", f"/cards/{_seg(card_no)}/bills", tuple[Bill, ...])

    def settle_bill(self, bill_no: str, amount_fen: int, trade_no: str, channel: str) -> Settlement:
        body = {"amount_fen": amount_fen, "trade_no": trade_no, "channel": channel}
        return self._call("POST", f"/bills/{_seg(bill_no)}/settle", Settlement, body=body)

    def trade_status(self, trade_no: str) -> TradeStatus:
        return self._call("GET", f"/trades/{_seg(trade_no)}", TradeStatus)

    def refund_bill(self, bill_no: str, amount_fen: int, refund_no: str) -> BillRefund:
        body = {"amount_fen": amount_fen, "refund_no": refund_no}
        return self._call("POST", f"/bills/{_seg(bill_no)}/refund", BillRefund, body=body)

    # --- queues -------------------------------------------------------------------------------
    def queue_status(self, card_no: str) -> tuple[QueueTicket, ...]:
        return self._call("GET", f"/cards/{_seg(card_no)}/queue", tuple[QueueTicket, ...])

    def queue_counts(self, kind: str | None = None) -> tuple[QueueArea, ...]:
        return self._call("GET", "/queues", tuple[QueueArea, ...], params={"kind": kind})

    # --- reports ------------------------------------------------------------------------------
    def list_reports(self, card_no: str) -> tuple[ReportSummary, ...]:
        return self._call("GET", f"/cards/{_seg(card_no)}/reports", tuple[ReportSummary, ...])

    def get_report(self, report_id: str, card_no: str) -> Report:
        return self._call("GET", f"/cards/{_seg(card_no)}/reports/{_seg(report_id)}", Report)

    # --- inpatients ---------------------------------------------------------------------------
    def inpatient_stay(self, card_no: str) -> InpatientStay | None:
        return self._call("GET", f"/cards/{_seg(card_no)}/inpatient", InpatientStay | None)

    def deposit_records(self, inpatient_no: str) -> tuple[DepositRecord, ...]:
        path = f"/inpatients/{_seg(inpatient_no)}/deposits"
        return self._call("GET", path, tuple[DepositRecord, ...])

    def pay_deposit(
        self, inpatient_no: str, amount_fen: int, trade_no: str, channel: str
    ) -> DepositRecord:
        body = {"amount_fen": amount_fen, "trade_no": trade_no, "channel": channel}
        path = f"/inpatients/{_seg(inpatient_no)}/deposits"
        return self._call("POST", path, DepositRecord, body=body)

    def daily_costs(self, inpatient_no: str, day: dt.date) -> DailyCosts:
        path = f"/inpatients/{_seg(inpatient_no)}/daily-costs"
        return self._call("GET", path, DailyCosts, params={"day": day})

    def total_cost(self, inpatient_no: str) -> CostSummary:
        return self._call("GET", f"/inpatients/{_seg(inpatient_no)}/total-cost", CostSummary)

    # --- simulator controls -------------------------------------------------------------------
    def stop_schedule(self, schedule_id: str, reason: str) -> ClinicSession:
        path = f"/schedules/{_seg(schedule_id)}/stop"
        return self._call("POST", path, ClinicSession, body={"reason": reason})

    def add_bill(
        self,
        card_no: str,
        items: Sequence[BillItem],
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> Bill:
        body = {"card_no": card_no, "items": list(items), "department_code": department_code,
                "doctor_code": doctor_code}  # fmt: skip
        return self._call("POST", "/bills", Bill, body=body)

    def mark_report_ready(self, report_id: str) -> ReportSummary:
        return self._call("POST", f"/reports/{_seg(report_id)}/ready", ReportSummary, body={})

    def advance_queue(self, area_code: str) -> QueueArea:
        return self._call("POST", f"/queues/{_seg(area_code)}/advance", QueueArea, body={})

    def mark_attended(self, registration: str, attended_at: dt.datetime | None = None) -> Attendance:
        body = {"registration": registration, "attended_at": attended_at}
        return self._call("POST", "/attendance", Attendance, body=body)

    # --- for mothers and children, e-invoices ---------------------------------------------------
    def check_in(self, lock_id: str, order_no: str) -> CheckIn:
        return self._call("POST", f"/locks/{_seg(lock_id)}/check-in", CheckIn, body={"order_no": order_no})

    def child_health_records(self, card_no: str) -> tuple[ChildCheck, ...]:
        return self._call("GET", f"/cards/{_seg(card_no)}/child-health", tuple[ChildCheck, ...])

    def invoice(self, trade_no: str) -> Invoice:
        return self._call("GET", f"/invoices/{_seg(trade_no)}", Invoice)
