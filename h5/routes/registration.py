"""找医生 (search and doctor page), 诊前签到 and 电子票据 pages. Thin: the rules are in app/registration/
and app/invoices/."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.invoices import queries as invoices
from app.invoices import render
from app.registration import commands, queries
from app.services.errors import DomainError
from h5 import h5_blueprint as bp
from h5.auth import current_user_id, login_required

PRIVATE = {"Cache-Control": "private, no-store", "Pragma": "no-cache"}


@bp.get("/doctors")
def doctors():
    q = request.args.get("q", "").strip()
    found = queries.search(q) if q else None
    return render_template("h5/registration/doctors.html", q=q, found=found)


@bp.get("/doctors/<int:doctor_id>")
def doctor_page(doctor_id: int):
    doctor = queries.doctor(doctor_id)
    if doctor is None:
        abort(404)
    return render_template("h5/registration/doctor.html", doctor=doctor, slices=queries.next_slices(doctor.id))


@bp.post("/booking/orders/<int:order_id>/check-in")
@login_required
def booking_check_in(order_id: int):
    try:
        row = commands.check_in(current_user_id(), order_id, request.form.get("latitude"),
                                request.form.get("longitude"))
    except DomainError as refused:
        if refused.status == 404:
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.booking_order", order_id=order_id), code=303)
    flash(_("签到成功，您的候诊号 %(no)s，请在候诊区等候叫号", no=row.queue_no), "success")
    return redirect(url_for("h5.booking_order", order_id=order_id), code=303)


@bp.get("/invoices/<order_no>")
@login_required
def invoice(order_no: str):
    try:
        payment, found = invoices.invoice_for(current_user_id(), order_no)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        return render_template("h5/registration/invoice.html", error=refused.message, invoice=None,
                               payment=None), refused.status
    response = make_response(render_template("h5/registration/invoice.html", invoice=found, payment=payment,
                                             qr=render.qr_svg(found.qr_text), error=None))
    response.headers.update(PRIVATE)
    return response


@bp.get("/invoices/<order_no>/pdf")
@login_required
def invoice_pdf(order_no: str):
    try:
        _payment, found = invoices.invoice_for(current_user_id(), order_no)
    except DomainError as refused:
        if refused.status in (403, 404):
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.invoice", order_no=order_no), code=303)
    response = make_response(render.pdf(found))
    response.headers.update(PRIVATE)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'inline; filename="einvoice-{found.invoice_no}.pdf"'
    return response


#: orders that may be booked again with the same doctor (再次预约): finished, cancelled, expired
REBOOKABLE = ("visited", "no_show", "cancelled", "expired", "refunded", "failed", "lock_failed")


@bp.app_context_processor
def _order_page_helpers():
    """What the order detail page needs for 诊前签到, 再次预约 and 电子票据 (kept out of the booking route)."""
    from app.invoices.queries import INVOICED

    return {"checkin_of": commands.checkin_of, "can_check_in": commands.can_check_in,
            "checkin_rules": commands.checkin_rules, "sandbox_locations": commands.sandbox_locations,
            "rebookable": REBOOKABLE, "invoiced_states": INVOICED}
