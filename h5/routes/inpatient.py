"""住院服务: the stay and its balance, 押金 top-up, deposit records, 每日清单, total cost."""

from __future__ import annotations

import functools

from flask import flash, redirect, render_template, request, url_for

from app.inpatient import deposits
from app.services.errors import DomainError
from app.identity.patients import patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required


@bp.get("/inpatient")
@login_required
def inpatient():
    user = current_user()
    number = request.args.get("inpatient_no", "").strip()
    if number:
        view = deposits.find_stay(user.id, number)
        return redirect(url_for("h5.inpatient", patient_id=view.patient.id))
    patients = patients_of(user.id)
    patient_id = request.args.get("patient_id") or (patients[0].id if patients else None)
    patient, view = (None, None) if patient_id is None else deposits.stay_of(user.id, patient_id)
    return render_template("h5/inpatient.html", patients=patients, patient=patient, view=view)


def of_a_patient(view):
    """The stay's pages are opened from 住院服务 with its patient; opened without one (a bookmark, a shared link,
    no card bound yet) they lead there, where a card is chosen or bound, rather than answer 就诊人不存在."""
    @functools.wraps(view)
    def page(*args, **kwargs):
        if not request.values.get("patient_id"):
            return redirect(url_for("h5.inpatient"))
        return view(*args, **kwargs)
    return page


@bp.route("/inpatient/deposit", methods=["GET", "POST"])
@login_required
@of_a_patient
def deposit_topup():
    user = current_user()
    patient_id = request.values.get("patient_id")
    _patient, view = deposits.stay_of(user.id, patient_id)
    low, high = deposits.deposit_limits()
    if request.method == "POST" and view is not None:
        try:
            order = deposits.create_deposit_payment(user.id, patient_id, request.form.get("inpatient_no", ""),
                                                    request.form.get("amount", ""), user.channel)
        except DomainError as refused:
            flash(refused.message, "error")
            return render_template("h5/deposit_topup.html", view=view, low=low, high=high,
                                   amount=request.form.get("amount", "")), refused.status
        return redirect(url_for("h5.pay", order_no=order.order_no), code=303)
    return render_template("h5/deposit_topup.html", view=view, low=low, high=high, amount="")


@bp.get("/inpatient/deposits")
@login_required
@of_a_patient
def deposit_records():
    view, lines = deposits.deposit_lines(current_user_id(), request.args.get("patient_id"))
    return render_template("h5/deposit_records.html", view=view, lines=lines)


@bp.get("/inpatient/daily")
@login_required
@of_a_patient
def daily_costs():
    view, day, days, groups, total = deposits.daily_list(current_user_id(), request.args.get("patient_id"),
                                                         request.args.get("day"))
    return render_template("h5/daily_costs.html", view=view, day=day, days=days, groups=groups, total=total)


@bp.get("/inpatient/costs")
@login_required
@of_a_patient
def total_cost():
    totals = deposits.cost_totals(current_user_id(), request.args.get("patient_id"))
    return render_template("h5/total_cost.html", totals=totals, view=totals.view)
