"""Health checks for the load balancer (live) and for operations (ready: every dependency)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from app.operations.preflight import run_checks

health_bp = Blueprint("health", __name__)


@health_bp.get("/health/live")
def live():
    return jsonify(status="ok")


@health_bp.get("/health/ready")
def ready():
    results = run_checks(include_his=True)
    ok = all(r.ok for r in results)
    body = {"status": "ok" if ok else "fail",
            "checks": {r.name: {"ok": r.ok, "detail": r.detail} for r in results}}
    return jsonify(body), (200 if ok else 503)
