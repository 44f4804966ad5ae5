"""make_his chooses the implementation from configuration; the `flask his` commands work."""

from __future__ import annotations

import pytest
from flask import Flask

from app.his import HisGateway, make_his
from doubles.his.cli import his_cli
from app.his.http import HttpHis
from doubles.his.simulator import SimulatorHis


def test_make_his_simulator(sim_url: str) -> None:
    his = make_his({"HIS_MODE": "simulator", "HIS_SIMULATOR_URL": sim_url})
    assert isinstance(his, SimulatorHis) and isinstance(his, HisGateway)
    assert his.list_departments()
    his.close()


def test_make_his_http() -> None:
    his = make_his({"HIS_MODE": "http", "HIS_BASE_URL": "http://127.0.0.1:5100/his/v1",
                    "HIS_APP_ID": "a", "HIS_SECRET": "s", "HIS_TIMEOUT": 3})  # fmt: skip
    assert isinstance(his, HttpHis)
    assert his.base_url == "http://127.0.0.1:5100" and his.timeout == 3.0


@pytest.mark.parametrize(
    "cfg",
    [{"HIS_MODE": "http", "HIS_BASE_URL": "http://x", "HIS_APP_ID": "a"}, {"HIS_MODE": "ftp"}],
)
def test_make_his_refuses_bad_configuration(cfg: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        make_his(cfg)


def test_cli_seed_and_stop_clinic(sim_url: str) -> None:
    app = Flask("cli_test")
    app.config.update(HIS_SIMULATOR_URL=sim_url, HIS_APP_ID="a", HIS_SECRET="s")
    app.cli.add_command(his_cli)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["his", "seed"])
    assert result.exit_code == 0, result.output
    assert "HIS simulator seeded" in result.output

    his = SimulatorHis(sim_url)
    session = next(s for s in his.list_schedules(*_window(his)) if s.status == "open")
    result = runner.invoke(args=["his", "stop-clinic", session.schedule_id, "--reason", "公休", "--no-announce"])
    assert result.exit_code == 0, result.output
    stopped = his.list_schedules(session.clinic_date, session.clinic_date,
                                 doctor_code=session.doctor_code)  # fmt: skip
    assert next(s for s in stopped if s.schedule_id == session.schedule_id).status == "stopped"
    result = runner.invoke(args=["his", "stop-clinic", "NOPE", "--reason", "x", "--no-announce"])
    assert result.exit_code != 0 and "not_found" in result.output
    his.close()


def test_cli_attend_checks_a_registration_in(sim_url: str) -> None:
    import datetime as dt

    app = Flask("cli_test")
    app.config.update(HIS_SIMULATOR_URL=sim_url)
    app.cli.add_command(his_cli)
    runner = app.test_cli_runner()
    his = SimulatorHis(sim_url)
    yesterday = his.now().date() - dt.timedelta(days=1)
    missed = next(a for a in his.registration_attendance(yesterday - dt.timedelta(days=1)) if not a.attended)
    result = runner.invoke(args=["his", "attend", missed.order_no, "--at",
                                 f"{missed.clinic_date:%Y-%m-%d} 18:05"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{missed.visit_no} (order {missed.order_no}" in result.output and "18:05" in result.output
    again = next(a for a in his.registration_attendance(missed.clinic_date) if a.lock_id == missed.lock_id)
    assert again.attended and again.attended_at == dt.datetime.combine(missed.clinic_date, dt.time(18, 5))
    result = runner.invoke(args=["his", "attend", "V-NOPE"])
    assert result.exit_code != 0 and "not_found" in result.output
    his.close()


def _window(his: SimulatorHis):  # type: ignore[no-untyped-def]
    import datetime as dt

    today = his.now().date()
    return today + dt.timedelta(days=1), today + dt.timedelta(days=5)
