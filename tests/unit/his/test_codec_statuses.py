"""The HIS contract's statuses are StrEnums: the codec decodes each to its member, writes it back as the
contract's plain string, and refuses a value the contract does not name (as it did for the Literals)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.his.codec import DecodeError, from_plain, to_plain
from app.his.interface import QueueStatus, QueueTicket, TradeRecord, TradeRecordStatus


def _ticket(status: str) -> dict:
    return {"queue_no": "A012", "area_code": "OB1", "area_name": "产科诊区", "department_name": "产科",
            "doctor_name": "王医生", "current_no": "A010", "ahead_count": 2, "status": status}


def test_a_status_decodes_to_its_member_and_encodes_to_the_contracts_string():
    ticket = from_plain(QueueTicket, _ticket("called"))
    assert ticket.status is QueueStatus.CALLED and ticket.status == "called"
    assert json.loads(json.dumps(to_plain(ticket)))["status"] == "called"
    record = TradeRecord(kind="bill", ref="B1", receipt_no="R1", amount_fen=100, refunded_fen=0,
                         status=TradeRecordStatus.APPLIED, applied_at=dt.datetime(2026, 12, 1, 9, 0))
    assert to_plain(record)["status"] == "applied" and type(to_plain(record)["status"]) is str


@pytest.mark.parametrize("status", ["Called", "", 3, None])
def test_a_status_the_contract_does_not_name_is_refused(status):
    with pytest.raises(DecodeError):
        from_plain(QueueTicket, _ticket(status))
