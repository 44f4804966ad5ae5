"""The outbox's housekeeping: done tasks older than ``outbox.retention_days`` are deleted in batches (nightly
task, ``flask outbox purge``); pending and failed tasks, and done ones inside the retention, are kept."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import insert, select

from app import clock, outbox
from app.extensions import db
from app.models import OutboxTask
from app.outbox import OutboxStatus
from app.services import configuration, settings
from app.services.configuration import InvalidConfiguration
from app.services.uow import unit_of_work
from tests.helpers.statements import statements_sent

#: a fixed moment, late in a Beijing evening: "now" is the test's, whatever the real date and hour
NOW = dt.datetime(2026, 6, 15, 23, 50)  # Beijing
DAY = dt.timedelta(days=1)
#: a moment just past the default retention: a done task finished then is due for deletion
PAST = (int(settings.REGISTRY["outbox.retention_days"].default) + 1) * DAY


@pytest.fixture()
def frozen(ctx):
    clock.freeze(NOW)
    return clock.utcnow()


def _task(ref: str, status: str, done_at: dt.datetime | None, kind: str = "notice.push") -> dict:
    return {"kind": kind, "ref": ref, "payload": "{}", "status": status, "attempts": 1, "next_attempt_at":
            done_at or clock.utcnow(), "done_at": done_at, "created_at": done_at or clock.utcnow()}


def _write(*rows: dict) -> None:
    with unit_of_work():
        db.session.execute(insert(OutboxTask), list(rows))


def _refs() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(OutboxTask.ref)))


def test_only_done_tasks_finished_before_the_retention_are_deleted(frozen):
    now = frozen
    retention = int(settings.REGISTRY["outbox.retention_days"].default)
    assert retention == 180 == outbox.retention_days()  # as long as the audit trail
    cutoff = now - retention * DAY
    _write(_task("done-old", OutboxStatus.DONE, cutoff - dt.timedelta(seconds=1)),
           _task("done-a-year-old", OutboxStatus.DONE, now - 365 * DAY, kind="export.build"),
           _task("done-at-the-cutoff", OutboxStatus.DONE, cutoff),
           _task("done-recent", OutboxStatus.DONE, now - DAY),
           _task("failed-old", OutboxStatus.FAILED, now - 365 * DAY),
           _task("pending-old", OutboxStatus.PENDING, None) | {"next_attempt_at": now - 365 * DAY,
                                                                 "created_at": now - 365 * DAY},
           _task("done-without-a-time", OutboxStatus.DONE, None))
    assert outbox.purge_done() == 2
    assert _refs() == {"done-at-the-cutoff", "done-recent", "failed-old", "pending-old", "done-without-a-time"}
    assert outbox.purge_done() == 0, "a second run finds nothing"


def test_the_retention_is_the_setting(frozen):
    now = frozen
    _write(_task("eleven-days", OutboxStatus.DONE, now - 11 * DAY),
           _task("nine-days", OutboxStatus.DONE, now - 9 * DAY))
    with unit_of_work():
        settings.set_value("outbox.retention_days", "10")
    assert outbox.retention_days() == 10
    assert outbox.purge_done() == 1
    assert _refs() == {"nine-days"}


def test_staff_cannot_set_a_retention_below_one_day(ctx):
    assert configuration.validate_setting("outbox.retention_days", " 90 ") == "90"
    with pytest.raises(InvalidConfiguration):
        configuration.validate_setting("outbox.retention_days", "0")


def test_an_explicit_before_overrides_the_retention(frozen):
    now = frozen
    _write(_task("two-days", OutboxStatus.DONE, now - 2 * DAY), _task("today", OutboxStatus.DONE, now))
    assert outbox.purge_done(now - DAY) == 1
    assert _refs() == {"today"}


def test_batches_loop_until_none_is_left_each_in_its_own_transaction(frozen):
    now = frozen
    old = now - PAST - 9 * DAY
    rows = []
    for i in range(12):  # kept rows between the deleted ones: a batch is not just the first N rows
        rows.append(_task(f"done-{i}", OutboxStatus.DONE, old + i * dt.timedelta(minutes=1)))
        rows.append(_task(f"failed-{i}", OutboxStatus.FAILED, old))
    rows.append(_task("recent", OutboxStatus.DONE, now))
    _write(*rows)
    with statements_sent(commits=True) as sent:
        assert outbox.purge_done(batch=5) == 12
    deletes = [i for i, s in enumerate(sent) if s.startswith("DELETE FROM outbox_task")]
    commits = [i for i, s in enumerate(sent) if s == "COMMIT"]
    assert len(deletes) == 3, sent  # 5 + 5 + 2, then the short batch ends the loop
    assert all(any(d < c < nxt for c in commits) for d, nxt in zip(deletes, deletes[1:] + [len(sent)], strict=True)), \
        "each batch commits before the next one starts"
    assert _refs() == {f"failed-{i}" for i in range(12)} | {"recent"}


def test_it_refuses_to_join_another_unit_of_work(frozen):
    _write(_task("old", OutboxStatus.DONE, frozen - PAST))
    with pytest.raises(RuntimeError), unit_of_work():
        outbox.purge_done()
    assert _refs() == {"old"}


def test_it_logs_one_line_with_the_count_and_nothing_about_the_rows(frozen, caplog):
    _write(_task("GH2026010112000012345678", OutboxStatus.DONE, frozen - PAST, kind="payment.confirm_at_his"))
    with caplog.at_level(logging.INFO, logger="outbox"):
        outbox.purge_done()
    lines = [r.getMessage() for r in caplog.records if r.name == "outbox"]
    assert len(lines) == 1 and lines[0].startswith("outbox purge: 1 done tasks"), lines
    assert "GH2026" not in lines[0] and "payment" not in lines[0]


def test_the_command_purges_before_a_beijing_day_or_by_the_retention(app, frozen):
    now = frozen
    # 00:00 Beijing on 2026-06-10 is 16:00 UTC on the 9th: a task done at 15:59 UTC is of the 9th in Beijing
    start = clock.beijing_day_start_utc(dt.date(2026, 6, 10))
    _write(_task("before-the-day", OutboxStatus.DONE, start - dt.timedelta(minutes=1)),
           _task("on-the-day", OutboxStatus.DONE, start),
           _task("failed", OutboxStatus.FAILED, start - 100 * DAY),
           _task("old", OutboxStatus.DONE, now - PAST))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["outbox", "purge", "--before", "2026-06-10"])
    assert result.exit_code == 0, result.output
    assert "2 done outbox tasks deleted" in result.output
    assert _refs() == {"on-the-day", "failed"}
    _write(_task("old-again", OutboxStatus.DONE, now - PAST))
    result = runner.invoke(args=["outbox", "purge"])
    assert result.exit_code == 0 and "1 done outbox tasks deleted" in result.output, result.output
    assert _refs() == {"on-the-day", "failed"}


@pytest.mark.parametrize(("before", "says"), [("10/06/2026", "YYYY-MM-DD"), ("2026-06-17", "after today")])
def test_the_command_refuses_a_bad_or_future_day(app, frozen, before, says):
    _write(_task("recent", OutboxStatus.DONE, frozen))
    result = app.test_cli_runner().invoke(args=["outbox", "purge", "--before", before])
    assert result.exit_code != 0 and says in result.output, result.output
    assert _refs() == {"recent"}


def test_the_nightly_task_calls_the_command_after_midnight_beijing(app, frozen, monkeypatch):
    from app.tasks.outbox import purge_done_outbox

    calls = []
    monkeypatch.setattr(outbox, "purge_done", lambda *a, **kw: calls.append((a, kw)) or 7)
    assert purge_done_outbox.call_local() == 7 and calls == [((), {})]
    # the queue's clock is UTC: 16:45 UTC is 00:45 Beijing, once a day
    task = purge_done_outbox.task_class()
    assert task.validate_datetime(dt.datetime(2026, 6, 15, 16, 45))
    assert not any(task.validate_datetime(dt.datetime(2026, 6, 15, h, m))
                   for h in range(24) for m in range(60) if (h, m) != (16, 45))


def test_the_nightly_task_deletes_for_real(app, frozen):
    from app.tasks.outbox import purge_done_outbox

    _write(_task("old", OutboxStatus.DONE, frozen - PAST), _task("recent", OutboxStatus.DONE, frozen))
    assert purge_done_outbox.call_local() == 1
    assert _refs() == {"recent"}
