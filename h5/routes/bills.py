"""门诊缴费: pending bills by visit, bill detail, paying a visit's bills, payment orders."""

from __future__ import annotations

import datetime as dt

from flask import redirect, render_template, request, url_for

from app import clock
from app.billing import bills as billing
from app.identity.patients import patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required


@bp.app_template_filter("beijing_time")
def beijing_time(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp from the database as the hospital's local time."""
    return clock.display(moment, fmt)


def _chosen_patient_id(patients) -> int | None:
    wanted = request.args.get("patient_id") or request.form.get("patient_id")
    if wanted:
        return wanted
    return patients[0].id if patients else None


@bp.get("/bills")
@login_required
def bills():
    user = current_user()
    patients = patients_of(user.id)
    patient_id = _chosen_patient_id(patients)
    if patient_id is None:
        return render_template("h5/bills.html", patients=[], patient=None, visits=[], paying=set())
    patient, visits, paying = billing.pending_visits(user.id, patient_id)
    return render_template("h5/bills.html", patients=patients, patient=patient, visits=visits, paying=paying)


@bp.get("/bills/<bill_no>")
@login_required
def bill_detail(bill_no: str):
    patient, bill = billing.bill_detail(current_user_id(), request.args.get("patient_id"), bill_no)
    return render_template("h5/bill_detail.html", patient=patient, bill=bill)


@bp.post("/bills/pay")
@login_required
def bill_pay():
    user = current_user()
    chosen = request.form.getlist("bill_no")
    seen = []
    for bill_no in chosen:
        value = request.form.get(f"amount_{bill_no}", "")
        seen.append(int(value) if value.isdigit() else None)
    expected = None if not seen or None in seen else sum(seen)
    order = billing.create_bill_payment(user.id, request.form.get("patient_id"), chosen, expected, user.channel)
    return redirect(url_for("h5.pay", order_no=order.order_no), code=303)


@bp.get("/bills/orders")
@login_required
def bill_orders():
    return render_template("h5/bill_orders.html", orders=billing.outpatient_orders(current_user_id()))


@bp.get("/bills/orders/<order_no>")
@login_required
def bill_order(order_no: str):
    order = billing.outpatient_order(current_user_id(), order_no)
    return render_template("h5/bill_order.html", order=order, bills=billing.order_bills(order),
                           refunds=billing.order_refunds(order))
