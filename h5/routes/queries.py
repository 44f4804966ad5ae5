"""排队叫号 and 报告查询: thin views over app/visits/queries.py.

The queue page refreshes itself from a small JSON endpoint (vanilla JS, no CDN). Report pages and
the queue JSON carry personal data: ``Cache-Control: private, no-store`` so no shared proxy keeps them.
"""

from __future__ import annotations

from flask import jsonify, make_response, redirect, render_template, request, url_for

from app.visits import queries
from app.identity.patients import owned_patient, patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user, login_required

PRIVATE = {"Cache-Control": "private, no-store", "Pragma": "no-cache"}
AREA_KINDS = queries.AREA_KINDS


def _selected_patient(user_id: int):
    """The patient chosen with ?patient= (checked to be this account's), else the default one."""
    chosen = request.args.get("patient")
    if chosen:
        return owned_patient(user_id, chosen)
    bound = patients_of(user_id)
    return bound[0] if bound else None


def _private(response):
    response = make_response(response)
    response.headers.update(PRIVATE)
    return response


@bp.get("/queue")
@login_required
def queue():
    user = current_user()
    patient = _selected_patient(user.id)
    if patient is None:
        return redirect(url_for("h5.patient_new", next=url_for("h5.queue")))
    tickets = queries.patient_queue(user.id, patient.id)
    return _private(render_template("h5/queue.html", patient=patient, patients=patients_of(user.id),
                                    tickets=tickets, areas=queries.queue_counts(), kinds=AREA_KINDS))


@bp.get("/queue/status.json")
@login_required
def queue_status_json():
    user = current_user()
    patient = _selected_patient(user.id)
    if patient is None:
        return _private(jsonify({"tickets": [], "areas": []}))
    return _private(jsonify(queries.queue_snapshot(user.id, patient.id)))


@bp.get("/reports")
@login_required
def reports():
    user = current_user()
    patient = _selected_patient(user.id)
    if patient is None:
        return redirect(url_for("h5.patient_new", next=url_for("h5.reports")))
    return _private(render_template("h5/reports.html", patient=patient, patients=patients_of(user.id),
                                    reports=queries.patient_reports(user.id, patient.id)))


@bp.get("/reports/<report_id>")
@login_required
def report_detail(report_id: str):
    user = current_user()
    patient = _selected_patient(user.id)
    if patient is None:
        return redirect(url_for("h5.patient_new"))
    report = queries.view_report(user.id, patient.id, report_id)
    return _private(render_template("h5/report_detail.html", patient=patient, report=report))
