"""Refunds the HIS starts (退费 decided at the hospital's window): POST /api/his/v1/refunds and the
status query GET /api/his/v1/refunds/<request_no>. Signed by the HIS; the rules live in
app.billing.bills (see docs/his-api.md, "Inbound: the platform's API for the HIS")."""

from __future__ import annotations

from flask import jsonify

from app.api.his_api import BadBody, error, his_api_bp, json_body, signed_by_his
from app.billing import bills as billing


@his_api_bp.post("/refunds")
@signed_by_his
def create_refund():
    """Refund (part of) a bill paid through the platform; the same request_no again is answered alike."""
    try:
        refund, created = billing.his_refund(json_body())
    except BadBody as bad:
        return bad.answer
    except billing.HisRefundRefused as refused:
        return error(refused.code, refused.message, refused.status)
    return jsonify(data=billing.refund_answer(refund)), 201 if created else 200


@his_api_bp.get("/refunds/<request_no>")
@signed_by_his
def refund_status(request_no: str):
    """Where a refund stands: processing, success or failed."""
    try:
        refund = billing.his_refund_status(request_no)
    except billing.HisRefundRefused as refused:
        return error(refused.code, refused.message, refused.status)
    return jsonify(data=billing.refund_answer(refund))
