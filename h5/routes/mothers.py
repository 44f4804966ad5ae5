"""For mothers and children: 孕产期 (her week, the 产检 plan, one-tap booking of a suitable 产科 slice)
and 儿童保健 (the 儿保 plan by age, one-tap booking, past checks from the HIS). Thin: the rules are in
app/maternity/."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app import clock
from app.maternity import classes as _school  # noqa: F401  (registers the prenatal_class payment kind)
from app.maternity import commands, queries
from app.services.errors import DomainError
from app.identity.patients import owned_patient, patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required


def _chosen(candidates: list, wanted: str | None):
    """The patient asked for with ?patient_id= (must be this account's), else the first candidate."""
    if wanted:
        patient = owned_patient(current_user_id(), wanted)
        return patient if patient in candidates else None
    return candidates[0] if candidates else None


@bp.get("/pregnancy")
@login_required
def pregnancy():
    user = current_user()
    mothers = [p for p in patients_of(user.id) if p.gender == "female" and not queries.is_child(p, clock.today())]
    patient = _chosen(mothers, request.args.get("patient_id"))
    journey = queries.pregnancy_journey(patient, clock.beijing_now()) if patient else None
    return render_template("h5/mothers/pregnancy.html", patients=mothers, patient=patient, journey=journey,
                           error=None, today=clock.today())


@bp.post("/pregnancy")
@login_required
def pregnancy_record():
    user = current_user()
    patient_id = request.form.get("patient_id")
    try:
        commands.record_pregnancy(user.id, patient_id, lmp=request.form.get("lmp_date"),
                                  due=request.form.get("due_date"))
    except DomainError as refused:
        if refused.status == 404:
            raise
        mothers = [p for p in patients_of(user.id) if p.gender == "female"]
        patient = owned_patient(user.id, patient_id)
        journey = queries.pregnancy_journey(patient, clock.beijing_now())
        return render_template("h5/mothers/pregnancy.html", patients=mothers, patient=patient, journey=journey,
                               error=refused.message, today=clock.today()), refused.status
    flash(_("已保存孕期信息"), "success")
    return redirect(url_for("h5.pregnancy", patient_id=patient_id), code=303)


@bp.post("/pregnancy/end")
@login_required
def pregnancy_end():
    patient_id = request.form.get("patient_id")
    commands.end_pregnancy(current_user_id(), patient_id)
    flash(_("已结束孕期记录，不再发送产检提醒"), "success")
    return redirect(url_for("h5.pregnancy", patient_id=patient_id), code=303)


@bp.get("/child-health")
@login_required
def child_health():
    user = current_user()
    today = clock.today()
    children = [p for p in patients_of(user.id) if queries.is_child(p, today)]
    patient = _chosen(children, request.args.get("patient_id"))
    journey = queries.child_journey(patient, clock.beijing_now()) if patient else None
    checks = queries.past_child_checks(patient) if patient else ()
    return render_template("h5/mothers/child_health.html", patients=children, patient=patient, journey=journey,
                           checks=checks)


# -- 孕妇学校 ----------------------------------------------------------------------------------------

@bp.get("/classes")
@login_required
def classes():
    from app.maternity import classes as school

    user = current_user()
    return render_template("h5/mothers/classes.html", lessons=school.upcoming(), mine=school.bookings_of(user.id),
                           patients=patients_of(user.id), payment_of=school.payment_of)


@bp.post("/classes/<int:class_id>/book")
@login_required
def class_book(class_id: int):
    from app.maternity import classes as school

    try:
        _booking, payment_no = school.book(current_user_id(), request.form.get("patient_id"), class_id)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.classes"), code=303)
    if payment_no:
        return redirect(url_for("h5.pay", order_no=payment_no), code=303)
    flash(_("报名成功"), "success")
    return redirect(url_for("h5.classes"), code=303)


@bp.post("/classes/bookings/<int:booking_id>/cancel")
@login_required
def class_cancel(booking_id: int):
    from app.maternity import classes as school

    try:
        school.cancel(current_user_id(), booking_id)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.classes"), code=303)
    flash(_("已取消报名"), "success")
    return redirect(url_for("h5.classes"), code=303)
