"""出院结算 in the simulated hospital: a simulator control (what the ward and the cashier do on their
own; the platform never calls it, so it is not part of the HIS contract).

Discharging a stay posts its last days' charges, fixes the final cost and settles it against the
deposits, 多退少补: a surplus goes back first to the deposits paid through the platform (the HIS then
asks the platform to return it to the original payments, ``POST /api/his/v1/deposit-refunds``), the
rest at the cashier's window; a shortfall is collected at the window. Settling again changes nothing
and answers the first settlement, so the refund request can be sent again under the same number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from app.his import errors
from .gateway import SimulatorHis
from .models import CostItemRow, DepositRow, DischargeRow, OnlineDepositRow, StayRow
from .seed import post_stay_costs


@dataclass(frozen=True)
class DischargeSettlement:
    """A stay's 出院结算, money in fen."""

    inpatient_no: str
    card_no: str
    settled_at: dt.datetime
    total_cost_fen: int
    deposit_fen: int
    online_deposit_fen: int
    online_refund_fen: int
    window_refund_fen: int
    due_fen: int
    refund_request_no: str | None
    newly_settled: bool


def refund_request_no(inpatient_no: str) -> str:
    """The HIS's number for the deposit refund of a stay: one settlement per stay, so one number."""
    return f"CY{inpatient_no}"


def discharge(his: SimulatorHis, inpatient_no: str) -> DischargeSettlement:
    """Discharge and settle a stay (idempotent: a settled stay answers its settlement again)."""
    now = his.now()
    with his.unit() as s:
        stay = s.get(StayRow, inpatient_no)
        if stay is None:
            raise errors.NotFound(f"inpatient {inpatient_no} not found")
        done = s.get(DischargeRow, inpatient_no)
        if done is not None:
            return _settlement(done, stay, newly=False)
        if stay.status != "discharged":
            stay.status, stay.discharged_at = "discharged", now
        post_stay_costs(s, stay, (stay.discharged_at or now).date())
        s.flush()
        cost = _sum(s, select(func.sum(CostItemRow.amount_fen)).where(CostItemRow.inpatient_no == inpatient_no))
        paid = _sum(s, select(func.sum(DepositRow.amount_fen)).where(DepositRow.inpatient_no == inpatient_no))
        online = _sum(s, select(func.sum(DepositRow.amount_fen))
                      .join(OnlineDepositRow, OnlineDepositRow.deposit_no == DepositRow.deposit_no)
                      .where(DepositRow.inpatient_no == inpatient_no))
        surplus = paid - cost
        back_online = min(max(surplus, 0), online)
        row = DischargeRow(inpatient_no=inpatient_no, settled_at=now, total_cost_fen=cost, deposit_fen=paid,
                           online_deposit_fen=online, online_refund_fen=back_online,
                           window_refund_fen=max(surplus, 0) - back_online, due_fen=max(-surplus, 0),
                           refund_request_no=refund_request_no(inpatient_no) if back_online else None)
        s.add(row)
        s.flush()
        return _settlement(row, stay, newly=True)


def _sum(s, query) -> int:  # type: ignore[no-untyped-def]
    return int(s.scalar(query) or 0)


def _settlement(row: DischargeRow, stay: StayRow, *, newly: bool) -> DischargeSettlement:
    return DischargeSettlement(row.inpatient_no, stay.card_no, row.settled_at, row.total_cost_fen, row.deposit_fen,
                               row.online_deposit_fen, row.online_refund_fen, row.window_refund_fen, row.due_fen,
                               row.refund_request_no, newly)
