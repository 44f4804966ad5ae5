"""`flask his ...`: seed the simulated hospital, serve it over HTTP, stop a clinic session, check a
patient in at the 分诊台."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
from flask import current_app
from flask.cli import AppGroup

if TYPE_CHECKING:
    import requests

his_cli = AppGroup("his", help="The simulated hospital information system (HIS).")


def _simulator_url() -> str:
    from .simulator import DEFAULT_SIMULATOR_URL

    return str(current_app.config.get("HIS_SIMULATOR_URL") or DEFAULT_SIMULATOR_URL)


@his_cli.command("seed")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Seed as if today were this date (default: today in UTC+8).")  # fmt: skip
def seed_command(today: object) -> None:
    """Seed the simulator database (idempotent: a re-run changes nothing)."""
    from .simulator import seed

    day = today.date() if today is not None else None  # type: ignore[attr-defined]
    added = seed(_simulator_url(), day)
    summary = ", ".join(f"{k}={v}" for k, v in added.items() if v) or "nothing to add"
    click.echo(f"HIS simulator seeded: {summary}")


@his_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5100, show_default=True, type=int)
def serve_command(host: str, port: int) -> None:
    """Serve the simulator over the signed HTTP contract (docs/his-api.md)."""
    from werkzeug.serving import run_simple

    from .server import create_his_server

    app_id = current_app.config.get("HIS_APP_ID")
    secret = current_app.config.get("HIS_SECRET")
    if not app_id or not secret:
        raise click.ClickException("set HIS_APP_ID and HIS_SECRET in the configuration first")
    server = create_his_server(_simulator_url(), app_id, secret)
    click.echo(f"HIS simulator on http://{host}:{port}/his/v1 (app id {app_id})")
    run_simple(host, port, server, threaded=True, use_reloader=False)


@his_cli.command("stop-clinic")
@click.argument("schedule_id")
@click.option("--reason", required=True, help="Why the session is stopped, e.g. 医生外出会诊.")
@click.option("--announce/--no-announce", default=True, show_default=True,
              help="Tell the platform, as a real HIS does: a signed POST /api/his/v1/events.")
def stop_clinic_command(schedule_id: str, reason: str, announce: bool) -> None:
    """Stop one clinic session (停诊) in the simulator and announce it to the platform.

    SCHEDULE_ID is the HIS schedule id, or a booking's 订单号 / 就诊流水号 (what staff can read on the
    order), which stands for that booking's session.
    """
    from app.his.errors import HisError
    from .simulator import SimulatorHis

    schedule_id = _schedule_of_booking(schedule_id) or schedule_id
    his = SimulatorHis(_simulator_url())
    try:
        session = his.stop_schedule(schedule_id, reason)
    except HisError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    finally:
        his.close()
    click.echo(f"{session.schedule_id} {session.clinic_date} {session.half_day}: stopped "
               f"({session.stop_reason})")  # fmt: skip
    if announce:
        click.echo(announce_stop(session.schedule_id, session.stop_reason or reason))


def _schedule_of_booking(ref: str) -> str | None:
    """The HIS schedule id of the booking whose order number or visit number is ``ref``, if any."""
    from sqlalchemy import or_, select

    from app.extensions import db
    from app.models import AppointmentOrder, Schedule

    if "sqlalchemy" not in current_app.extensions:  # the simulator served on its own, without the platform
        return None
    return db.session.scalar(
        select(Schedule.his_schedule_id).join(AppointmentOrder, AppointmentOrder.schedule_id == Schedule.id)
        .where(or_(AppointmentOrder.order_no == ref, AppointmentOrder.his_visit_no == ref)).limit(1))


@his_cli.command("advance-queue")
@click.argument("area_code")
def advance_queue_command(area_code: str) -> None:
    """Call the next number in one queue area (e.g. GYN, PD, LAB, PH), as the nurse would."""
    from .simulator import SimulatorHis

    area = SimulatorHis(_simulator_url()).advance_queue(area_code)
    click.echo(f"{area.area_name}: now calling {area.current_no or '-'}, {area.waiting} waiting")


@his_cli.command("report-ready")
@click.argument("report_id", required=False)
@click.option("--card", "card_no", help="Publish the latest pending report of this hospital card instead.")
def report_ready_command(report_id: str | None, card_no: str | None) -> None:
    """Publish a pending report (the report-ready reminder picks it up within five minutes)."""
    from .simulator import SimulatorHis

    his = SimulatorHis(_simulator_url())
    if not report_id and card_no:
        pending = [r for r in his.list_reports(card_no) if r.status == "pending"]
        if not pending:
            raise click.ClickException(f"card {card_no} has no pending report")
        report_id = pending[0].report_id
    if not report_id:
        raise click.ClickException("give a REPORT_ID or --card CARD_NO")
    summary = his.mark_report_ready(report_id)
    click.echo(f"{summary.report_id} {summary.title}: {summary.status}")


@his_cli.command("attend")
@click.argument("registration")
@click.option("--at", "attended_at", type=click.DateTime(formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]),
              default=None, help="Check-in time, hospital local time (default: now, or the slice's start "
                                 "when entered after the clinic day).")  # fmt: skip
def attend_command(registration: str, attended_at: object) -> None:
    """Check a registration in at the 分诊台 (visit number, platform order number or lock id).

    The platform's attendance sweep then moves the order to 已就诊; a registration nobody checked in
    becomes 爽约 once its session is over.
    """
    from app.his.errors import HisError
    from .simulator import SimulatorHis

    his = SimulatorHis(_simulator_url())
    try:
        done = his.mark_attended(registration, attended_at)  # type: ignore[arg-type]
    except HisError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    finally:
        his.close()
    at = done.attended_at.strftime("%Y-%m-%d %H:%M") if done.attended_at else "-"
    click.echo(f"{done.visit_no} (order {done.order_no}, card {done.card_no}): checked in at {at}")


def announce_stop(schedule_id: str, reason: str) -> str:
    """Send the signed schedule_stopped event to the platform (PUBLIC_BASE_URL) like a real HIS.

    When no platform server is listening (e.g. ``make run`` is not started), the same service the
    endpoint calls is run in this process instead, so the demo never leaves bookings behind.
    """
    import uuid

    import requests

    event = {"event_id": uuid.uuid4().hex, "type": "schedule_stopped", "schedule_id": schedule_id,
             "reason": reason}
    try:
        response = _post_to_platform("/api/his/v1/events", event)
    except _NotConfigured:
        return "not announced: this app has no platform configuration (PUBLIC_BASE_URL, HIS_EVENT_*)"
    except requests.ConnectionError:
        from app.registration.commands import handle_his_event

        outcome = handle_his_event(event)
        return f"platform not reachable at {platform_url('/api/his/v1/events')}: handled in-process: {outcome}"
    if response.status_code != 200:
        raise click.ClickException(f"platform refused the event ({response.status_code}): {response.text[:200]}")
    return f"platform notified ({response.url}): {response.json()}"


@his_cli.command("discharge")
@click.argument("inpatient_no")
@click.option("--announce/--no-announce", default=True, show_default=True,
              help="Ask the platform to return the surplus paid through it, as a real HIS does: a signed "
                   "POST /api/his/v1/deposit-refunds.")  # fmt: skip
def discharge_command(inpatient_no: str, announce: bool) -> None:
    """Discharge a stay and settle it (出院结算, 押金多退少补) in the simulator.

    The surplus of the deposits goes back to the ones paid through the platform first (原路退回), the
    rest at the window; a shortfall is collected at the window. Running it again re-sends the same
    refund request (the platform answers the refunds it made the first time).
    """
    from app.services.formatting import yuan

    from app.his.errors import HisError
    from .simulator import SimulatorHis
    from .simulator.discharge import discharge

    his = SimulatorHis(_simulator_url())
    try:
        done = discharge(his, inpatient_no)
    except HisError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from exc
    finally:
        his.close()
    state = "discharged and settled" if done.newly_settled else "already settled"
    click.echo(f"{done.inpatient_no} (card {done.card_no}): {state} {done.settled_at:%Y-%m-%d %H:%M}: "
               f"cost ¥{yuan(done.total_cost_fen)}, deposits ¥{yuan(done.deposit_fen)} "
               f"(¥{yuan(done.online_deposit_fen)} through the platform)")  # fmt: skip
    if done.due_fen:
        click.echo(f"the patient still owes ¥{yuan(done.due_fen)}: collected at the cashier's window")
    if done.window_refund_fen:
        click.echo(f"¥{yuan(done.window_refund_fen)} returned at the cashier's window")
    if done.online_refund_fen and done.refund_request_no:
        click.echo(f"¥{yuan(done.online_refund_fen)} to go back to the original payments "
                   f"(request {done.refund_request_no})")  # fmt: skip
        if announce:
            click.echo(request_deposit_refund(done.refund_request_no, done.inpatient_no, done.online_refund_fen))


def request_deposit_refund(request_no: str, inpatient_no: str, amount_fen: int) -> str:
    """Ask the platform (PUBLIC_BASE_URL) to return ``amount_fen`` of the stay's deposits, signed like a
    real HIS. When no platform server is listening, the endpoint's service runs in this process instead."""
    import requests

    from app.services.formatting import yuan

    payload = {"request_no": request_no, "inpatient_no": inpatient_no, "amount_fen": amount_fen,
               "reason": "出院结算退押金"}
    try:
        response = _post_to_platform("/api/his/v1/deposit-refunds", payload)
    except _NotConfigured:
        return "not sent: this app has no platform configuration (PUBLIC_BASE_URL, HIS_EVENT_*)"
    except requests.ConnectionError:
        from app.inpatient import deposit_refunds
        from app.billing.bills import HisRefundRefused

        try:
            request, _created = deposit_refunds.his_deposit_refund(payload)
        except HisRefundRefused as refused:
            raise click.ClickException(f"platform refused the deposit refund: {refused.code}: "
                                       f"{refused.message}") from refused  # fmt: skip
        answer, where = deposit_refunds.deposit_refund_answer(request), "platform not reachable: handled in-process"
    else:
        if response.status_code not in (200, 201):
            raise click.ClickException(f"platform refused the deposit refund ({response.status_code}): "
                                       f"{response.text[:200]}")  # fmt: skip
        answer, where = response.json()["data"], f"platform asked ({response.url})"
    parts = "; ".join(f"{r['order_no']} {r['channel']} ¥{yuan(r['amount_fen'])} {r['status']}"
                      for r in answer["refunds"])
    return f"{where}: {answer['status']}: {parts}"


class _NotConfigured(Exception):
    """This app has no platform to talk to."""


def platform_url(path: str) -> str:
    """Where the platform's HIS API answers ``path`` (PUBLIC_BASE_URL)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _post_to_platform(path: str, payload: dict) -> requests.Response:
    """POST ``payload`` to the platform's HIS API, signed with HIS_EVENT_APP_ID / HIS_EVENT_SECRET.

    Raises _NotConfigured when this app has no platform to talk to, requests.ConnectionError when
    nothing listens there.
    """
    import json

    import requests

    from app.services.signing import signed_headers

    config = current_app.config
    if not all(config.get(k) for k in ("PUBLIC_BASE_URL", "HIS_EVENT_APP_ID", "HIS_EVENT_SECRET")):
        raise _NotConfigured
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(config["HIS_EVENT_APP_ID"], config["HIS_EVENT_SECRET"], "POST", path, body)
    return requests.post(platform_url(path), data=body, headers=headers, timeout=30)
