"""出院结算 in the simulator (多退少补): the surplus goes back through the platform up to what was paid
through it, the rest at the window; a shortfall is owed; settling again changes nothing; the stay's
balance reflects the settlement; `flask his discharge` says what happened."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from app.his import errors
from doubles.his.cli import his_cli
from doubles.his.simulator import SimulatorHis
from doubles.his.simulator.discharge import discharge
from doubles.his.simulator.models import CostItemRow, StayRow


def _stay_with_balance(sim: SimulatorHis, *, positive: bool) -> StayRow:
    """An in-hospital stay whose balance (window deposits only, as seeded) is above / below zero."""
    with sim.unit() as s:
        for row in s.scalars(select(StayRow).where(StayRow.status == "in_hospital").order_by(StayRow.inpatient_no)):
            stay = sim.inpatient_stay(row.card_no)
            if stay is not None and stay.inpatient_no == row.inpatient_no and (stay.balance_fen > 0) == positive:
                return row
    pytest.skip("the seed has no such stay")


def test_a_surplus_goes_back_through_the_platform_and_the_balance_is_settled(sim: SimulatorHis) -> None:
    row = _stay_with_balance(sim, positive=False)
    before = sim.inpatient_stay(row.card_no)
    assert before is not None and before.balance_fen < 0
    owed = -before.balance_fen
    sim.pay_deposit(row.inpatient_no, owed, "PLATFORM-TRADE-1", "wechat")
    sim.pay_deposit(row.inpatient_no, 50000, "PLATFORM-TRADE-2", "alipay")
    with sim.unit() as s:  # the last day's charges are not posted yet: discharge posts them
        last_day = s.scalar(select(func.max(CostItemRow.day)).where(CostItemRow.inpatient_no == row.inpatient_no))
        s.execute(delete(CostItemRow).where(CostItemRow.inpatient_no == row.inpatient_no,
                                            CostItemRow.day == last_day))
    done = discharge(sim, row.inpatient_no)
    assert done.newly_settled and done.total_cost_fen == before.total_cost_fen
    assert done.deposit_fen == before.deposit_total_fen + owed + 50000
    assert done.online_deposit_fen == owed + 50000
    assert (done.online_refund_fen, done.window_refund_fen, done.due_fen) == (50000, 0, 0)
    assert done.refund_request_no == f"CY{row.inpatient_no}"

    after = sim.inpatient_stay(row.card_no)
    assert after is not None and after.status == "discharged" and after.discharged_at is not None
    assert after.balance_fen == 0 and after.deposit_total_fen == after.total_cost_fen
    assert sim.total_cost(row.inpatient_no).balance_fen == 0
    with pytest.raises(errors.InvalidRequest):
        sim.pay_deposit(row.inpatient_no, 10000, "PLATFORM-TRADE-3", "wechat")

    again = discharge(sim, row.inpatient_no)  # settling again changes nothing
    assert not again.newly_settled and again.settled_at == done.settled_at
    assert again.online_refund_fen == 50000 and again.refund_request_no == done.refund_request_no


def test_a_surplus_beyond_the_platform_deposits_goes_back_at_the_window(sim: SimulatorHis) -> None:
    row = _stay_with_balance(sim, positive=True)
    before = sim.inpatient_stay(row.card_no)
    assert before is not None
    sim.pay_deposit(row.inpatient_no, 20000, "PLATFORM-TRADE-9", "wechat")
    done = discharge(sim, row.inpatient_no)
    assert (done.online_refund_fen, done.window_refund_fen, done.due_fen) == (20000, before.balance_fen, 0)
    after = sim.inpatient_stay(row.card_no)
    assert after is not None and after.balance_fen == 0


def test_a_shortfall_is_owed_and_nothing_is_asked_of_the_platform(sim: SimulatorHis) -> None:
    row = _stay_with_balance(sim, positive=False)
    before = sim.inpatient_stay(row.card_no)
    assert before is not None
    done = discharge(sim, row.inpatient_no)
    assert (done.online_refund_fen, done.window_refund_fen) == (0, 0)
    assert done.due_fen == -before.balance_fen and done.refund_request_no is None
    after = sim.inpatient_stay(row.card_no)
    assert after is not None and after.balance_fen == before.balance_fen  # still owed at the window


def test_an_unknown_stay_is_not_found(sim: SimulatorHis) -> None:
    with pytest.raises(errors.NotFound):
        discharge(sim, "ZY99999999")


def test_cli_discharge_reports_the_settlement(sim_url: str, sim: SimulatorHis) -> None:
    row = _stay_with_balance(sim, positive=True)
    sim.pay_deposit(row.inpatient_no, 30000, "PLATFORM-TRADE-7", "alipay")
    app = Flask("cli_test")
    app.config.update(HIS_SIMULATOR_URL=sim_url)  # no platform configured: nothing can be sent
    app.cli.add_command(his_cli)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["his", "discharge", row.inpatient_no])
    assert result.exit_code == 0, result.output
    assert "discharged and settled" in result.output and "through the platform" in result.output
    assert f"¥300.00 to go back to the original payments (request CY{row.inpatient_no})" in result.output
    assert "not sent: this app has no platform configuration" in result.output
    again = runner.invoke(args=["his", "discharge", row.inpatient_no, "--no-announce"])
    assert again.exit_code == 0 and "already settled" in again.output and "not sent" not in again.output
    missing = runner.invoke(args=["his", "discharge", "ZY99999999"])
    assert missing.exit_code != 0 and "not_found" in missing.output
