"""``POST /api/his/v1/events``: what the HIS tells us on its own (停诊), signed like every HIS call.

Body: ``{"event_id": "...", "type": "schedule_stopped", "schedule_id": "S20261201D001am",
"reason": "医生外出会诊"}``. Handling is idempotent: the same stop twice cancels nothing twice.
"""

from __future__ import annotations

import logging

from flask import jsonify

from app.api.his_api import BadBody, error, his_api_bp, json_body, signed_by_his
from app.registration.commands import handle_his_event
from app.services.errors import DomainError

log = logging.getLogger("his_api")


@his_api_bp.post("/events")
@signed_by_his
def his_event():
    try:
        event = json_body()
    except BadBody as bad:
        return bad.answer
    if not isinstance(event, dict):
        return error("invalid_request", "body must be a JSON object", 400)
    try:
        outcome = handle_his_event(event)
    except DomainError as refused:
        return error(refused.code, refused.message, refused.status)
    log.info("HIS event %s type=%s outcome=%s", event.get("event_id"), event.get("type"), outcome)
    return jsonify(code="ok", **outcome)
