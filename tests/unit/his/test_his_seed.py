"""The simulator seed: deterministic, idempotent, believable, valid ID numbers."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from doubles.his.simulator import generate_patients, seed
from doubles.his.simulator.models import HisBase, PatientRow, ScheduleRow
from app.identity.id_numbers import birth_date_of, gender_of, is_valid_id_number


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in HisBase.metadata.sorted_tables}  # fmt: skip
    finally:
        engine.dispose()


def _dump(url: str, table: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
    finally:
        engine.dispose()


def test_reseeding_changes_nothing(sim_url: str, seed_today: dt.date) -> None:
    before = _counts(sim_url)
    added = seed(sim_url, seed_today)
    assert all(v == 0 for v in added.values()), added
    assert _counts(sim_url) == before
    assert before["his_patients"] == 200 and before["his_doctors"] >= 55


def test_a_later_day_only_adds_missing_days(sim_url: str, seed_today: dt.date) -> None:
    later = seed_today + dt.timedelta(days=3)
    patients_before = _dump(sim_url, "his_patients")
    added = seed(sim_url, later)
    assert added["sessions"] > 0 and "patients" not in added
    assert _dump(sim_url, "his_patients") == patients_before
    engine = create_engine(sim_url)
    with Session(engine) as s:
        days = set(s.scalars(select(ScheduleRow.clinic_date).distinct()))
    engine.dispose()
    assert {later + dt.timedelta(days=k) for k in range(14)} <= days
    assert seed(sim_url, later)["sessions"] == 0


def test_seed_is_deterministic(
    hospital_template: Path, tmp_path: Path, seed_today: dt.date
) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    seed(fresh, seed_today)
    template = f"sqlite:///{hospital_template}"
    for table in ("his_departments", "his_doctors", "his_patients", "his_slices",
                  "his_bills", "his_bill_items", "his_reports", "his_cost_items"):  # fmt: skip
        assert _dump(fresh, table) == _dump(template, table), table


def test_every_seeded_patient_has_a_valid_id_number(sim_url: str) -> None:
    engine = create_engine(sim_url)
    with Session(engine) as s:
        rows = s.scalars(select(PatientRow)).all()
    engine.dispose()
    assert len(rows) == 200
    assert len({r.id_number for r in rows}) == len({r.card_no for r in rows}) == 200
    for r in rows:
        assert is_valid_id_number(r.id_number), r.id_number
        assert r.id_number[:6] in {"441702", "441704", "441721", "441781"}
        assert birth_date_of(r.id_number) == r.birth_date and gender_of(r.id_number) == r.gender
        assert len(r.phone) == 11 and r.phone.startswith("1")
        assert 2 <= len(r.name) <= 4
    assert [p.card_no for p in generate_patients()] == sorted(r.card_no for r in rows)


def test_seed_creates_the_instance_folder(tmp_path: Path, hospital_template: Path) -> None:
    target = tmp_path / "nested" / "instance" / "his.db"
    target.parent.mkdir(parents=True)
    shutil.copy(hospital_template, target)
    assert seed(f"sqlite:///{target}", None)["sessions"] >= 0


def test_an_older_simulator_database_gets_the_childrens_guardians(tmp_path) -> None:
    """A simulator seeded before cards carried a guardian is brought up to date by the next seed."""
    import sqlite3

    from doubles.his.simulator import seed as seed_simulator

    url = f"sqlite:///{tmp_path / 'old.db'}"
    seed_simulator(url)
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("ALTER TABLE his_patients DROP COLUMN guardian_id_number")
    conn.commit()
    conn.close()
    assert seed_simulator(url)["guardians"] > 0
    assert seed_simulator(url)["guardians"] == 0


def test_an_older_simulator_database_gets_the_evening_clinics(
    tmp_path: Path, hospital_template: Path, seed_today: dt.date
) -> None:
    """A simulator seeded when sessions were only 上午/下午 gets the 夜诊 of its 14 days on the next seed
    (on MariaDB the next seed also widens ``half_day`` first; SQLite does not enforce the length)."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    seed(url, seed_today)
    conn = sqlite3.connect(tmp_path / "old.db")
    evenings = "SELECT schedule_id FROM his_schedules WHERE half_day = 'evening' AND clinic_date >= ?"
    conn.execute(f"DELETE FROM his_slices WHERE schedule_id IN ({evenings})", (seed_today.isoformat(),))
    conn.execute(f"DELETE FROM his_schedules WHERE schedule_id IN ({evenings})", (seed_today.isoformat(),))
    conn.commit()
    conn.close()
    added = seed(url, seed_today)
    assert added["sessions"] == 14 and added["widened"] == 0
    for table in ("his_schedules", "his_slices"):  # the same evenings a fresh seed writes
        assert _dump(url, table) == _dump(f"sqlite:///{hospital_template}", table), table
    assert seed(url, seed_today)["sessions"] == 0


def test_the_demo_cards_have_past_registrations_one_attended(sim_url: str, seed_today: dt.date) -> None:
    """The attendance feed has both outcomes to show from the first seed on: the demo mother came to
    yesterday's 产科 clinic, the demo child missed the 儿科夜诊 the day before."""
    from doubles.his.simulator import SimulatorHis

    his = SimulatorHis(sim_url)
    yesterday = [a for a in his.registration_attendance(seed_today - dt.timedelta(days=1))
                 if a.order_no.startswith("GHDEMO")]  # fmt: skip
    before = [a for a in his.registration_attendance(seed_today - dt.timedelta(days=2))
              if a.order_no.startswith("GHDEMO")]  # fmt: skip
    mother = next(p for p in generate_patients() if p.group == "mother")
    child = next(p for p in generate_patients() if p.group == "child")
    assert [(a.card_no, a.attended) for a in yesterday] == [(mother.card_no, True)]
    assert yesterday[0].attended_at is not None and yesterday[0].attended_at.date() == yesterday[0].clinic_date
    assert [(a.card_no, a.attended) for a in before] == [(child.card_no, False)]
    evening = his.list_schedules(before[0].clinic_date, before[0].clinic_date, department_code="PD01")
    assert any(x.slice_id == before[0].slice_id for s in evening if s.half_day == "evening" for x in s.slices)
    his.close()


def test_an_older_simulator_database_gains_attendance(tmp_path: Path, seed_today: dt.date) -> None:
    """A simulator seeded before attendance existed: opening it creates the table (no seed needed,
    so `flask his serve` on it answers), and the next seed writes the demo cards' past visits."""
    import sqlite3

    from doubles.his.simulator import SimulatorHis

    url = f"sqlite:///{tmp_path / 'old.db'}"
    seed(url, seed_today)
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("DROP TABLE his_attendance")
    conn.execute("DELETE FROM his_locks")
    conn.execute("DELETE FROM his_meta WHERE key = 'demo_visits'")
    conn.commit()
    conn.close()
    his = SimulatorHis(url)
    assert his.registration_attendance(seed_today - dt.timedelta(days=1)) == ()
    his.close()
    assert seed(url, seed_today)["demo_visits"] == 2
    assert seed(url, seed_today)["demo_visits"] == 0
    his = SimulatorHis(url)
    assert [a.attended for a in his.registration_attendance(seed_today - dt.timedelta(days=1))] == [True]
    his.close()


def _stays(url: str) -> list[tuple[object, ...]]:
    """Each stay relative to the day the seed ran: its days in hospital, charges and deposits."""
    from doubles.his.simulator import SimulatorHis
    from doubles.his.simulator.models import StayRow

    his = SimulatorHis(url)
    try:
        with his.unit() as s:
            rows = s.scalars(select(StayRow).order_by(StayRow.inpatient_no)).all()
            cards = [(r.card_no, r.inpatient_no) for r in rows]
        out = []
        for card, inpatient_no in cards:
            stay = his.inpatient_stay(card)
            assert stay.inpatient_no == inpatient_no
            summary = his.total_cost(inpatient_no)
            out.append((inpatient_no, card, stay.status, stay.ward, stay.admitted_at.time(),
                        summary.total_fen, dict(summary.by_category), stay.deposit_total_fen, stay.balance_fen))
        return out
    finally:
        his.close()


def test_stays_are_a_function_of_the_seed_and_the_clock_not_of_the_date(tmp_path: Path) -> None:
    """Seeded on any day (a month end, a Sunday, New Year's Eve) the stays cost the same: the bug was a
    stay's charges drawn from the calendar date, so a low balance turned healthy on 2026-12-01."""
    results = []
    for day in (dt.date(2026, 11, 27), dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2027, 1, 1)):
        url = f"sqlite:///{tmp_path / f'{day}.db'}"
        seed(url, day)
        results.append(_stays(url))
    assert all(r == results[0] for r in results[1:])
    by_no = {row[0]: row for row in results[0]}
    assert by_no["ZY00000007"][-1] < 0  # the 补缴 demo: its deposit no longer covers its charges
    assert sum(1 for row in results[0] if row[2] == "discharged") == 2


def test_no_stay_is_discharged_before_it_was_admitted(tmp_path: Path) -> None:
    from doubles.his.simulator.models import CostItemRow, StayRow

    for day in (dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 3, 1)):
        url = f"sqlite:///{tmp_path / f'{day}.db'}"
        seed(url, day)
        engine = create_engine(url)
        with Session(engine) as s:
            for stay in s.scalars(select(StayRow)):
                if stay.discharged_at is not None:
                    assert stay.admitted_at < stay.discharged_at < dt.datetime.combine(day, dt.time())
                days = s.scalars(select(CostItemRow.day).where(CostItemRow.inpatient_no == stay.inpatient_no))
                assert all(stay.admitted_at.date() <= d <= (stay.discharged_at or dt.datetime.combine(day, dt.time()))
                           .date() for d in days)
        engine.dispose()
