"""候补 pages: join a full session (patient, acceptable slices), my waitlist (position, leave). Thin: the
rules are in app/waitlist/."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.extensions import db
from app.models import Schedule
from app.services.errors import DomainError
from app.identity.patients import patients_of
from app.waitlist import commands, queries
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required

STATUS_LABELS = {"waiting": _l("候补中"), "offered": _l("已候补到号，待支付"), "booked": _l("候补成功"),
                 "expired": _l("未支付，已失效"), "left": _l("已退出候补"), "closed": _l("候补已结束")}


@bp.get("/waitlist")
@login_required
def waitlist():
    return render_template("h5/waitlist/list.html", views=queries.entries_of(current_user_id()), labels=STATUS_LABELS)


def _schedule(schedule_id: int) -> Schedule:
    schedule = db.session.get(Schedule, schedule_id)
    if schedule is None:
        abort(404)
    return schedule


@bp.route("/waitlist/join/<int:schedule_id>", methods=["GET", "POST"])
@login_required
def waitlist_join(schedule_id: int):
    user = current_user()
    schedule = _schedule(schedule_id)
    patients = patients_of(user.id)
    if request.method == "POST":
        try:
            commands.join(user.id, request.form.get("patient_id"), schedule_id, request.form.getlist("slice_id"))
        except DomainError as refused:
            if refused.status == 404:
                raise
            return render_template("h5/waitlist/join.html", schedule=schedule, patients=patients,
                                   waiting=queries.waiting_count(schedule.id), error=refused.message,
                                   selected=request.form.get("patient_id", type=int)), refused.status
        flash(_("已加入候补，有号源释放时将自动为您预约并通知您"), "success")
        return redirect(url_for("h5.waitlist"), code=303)
    return render_template("h5/waitlist/join.html", schedule=schedule, patients=patients, error=None,
                           waiting=queries.waiting_count(schedule.id), selected=patients[0].id if patients else None)


@bp.post("/waitlist/<int:entry_id>/leave")
@login_required
def waitlist_leave(entry_id: int):
    try:
        commands.leave(current_user_id(), entry_id)
    except DomainError as refused:
        if refused.status == 404:
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.waitlist"), code=303)
    flash(_("已退出候补"), "success")
    return redirect(url_for("h5.waitlist"), code=303)
