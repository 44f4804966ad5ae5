"""Deposit refunds at discharge the HIS starts (出院结算退押金): POST /api/his/v1/deposit-refunds and the
status query GET /api/his/v1/deposit-refunds/<request_no>. Signed by the HIS; the rules live in
app.inpatient.deposit_refunds (see docs/his-api.md, "Inbound: the platform's API for the HIS")."""

from __future__ import annotations

from flask import jsonify

from app.api.his_api import BadBody, error, his_api_bp, json_body, signed_by_his
from app.inpatient import deposit_refunds
from app.billing.bills import HisRefundRefused


@his_api_bp.post("/deposit-refunds")
@signed_by_his
def create_deposit_refund():
    """Return part of a stay's platform deposits to the original payments; the same request_no again is
    answered alike."""
    try:
        refund_request, created = deposit_refunds.his_deposit_refund(json_body())
    except BadBody as bad:
        return bad.answer
    except HisRefundRefused as refused:
        return error(refused.code, refused.message, refused.status)
    return jsonify(data=deposit_refunds.deposit_refund_answer(refund_request)), 201 if created else 200


@his_api_bp.get("/deposit-refunds/<request_no>")
@signed_by_his
def deposit_refund_status(request_no: str):
    """Where each refund of the request stands, and the request as a whole."""
    try:
        refund_request = deposit_refunds.his_deposit_refund_status(request_no)
    except HisRefundRefused as refused:
        return error(refused.code, refused.message, refused.status)
    return jsonify(data=deposit_refunds.deposit_refund_answer(refund_request))
