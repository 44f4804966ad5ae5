"""How the platform degrades when a part is away (the runbook in docs/operations.md, checked by
tests/operations/test_runbook.py): readiness says which part, patients get a clear Chinese message,
nothing recorded is lost, and everything resumes when the part returns.

* The database away: every request that needs it is answered 503 with a page that needs nothing
  (no template that reads the database), ``/api/health/live`` stays 200, ``/ready`` names it;
  payment notifications get 503, so the channels deliver them again later.
* A payment channel away: readiness names it (``wechat``/``alipay``), opening its cashier says so.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("degrade")

DB_DOWN_PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>系统维护中</title></head>
<body style="font-family:sans-serif;text-align:center;padding:48px 16px;color:#333">
<h2 style="font-weight:500">系统正在维护，请稍后再试</h2>
<p>您已完成的预约和支付不会丢失，恢复后可在“我的预约”“缴费记录”中查看。</p>
<p style="color:#888">如需就诊，可先到医院窗口办理。</p></body></html>"""


def channel_checks() -> list[tuple[str, bool, str]]:
    from app.channels import ChannelError, ChannelUnavailable
    from app.payments.commands import channels

    found = []
    for name, channel in channels().items():
        try:
            channel.query_payment("HEALTHCHECK0000000000000000")
            found.append((name, True, "reachable"))
        except ChannelUnavailable as exc:
            found.append((name, False, f"{name} not reachable ({exc.code}: {exc.message[:120]}): "
                                       "patients cannot pay through it; see the runbook"))
        except ChannelError as exc:  # "no such order" and the like: the channel answered
            found.append((name, True, f"reachable ({exc.code})"))
        except Exception as exc:  # noqa: BLE001 - any other failure means the same to the operator
            found.append((name, False, f"{name} check failed ({type(exc).__name__})"))
    return found


def register(app: Flask) -> None:
    def database_away(error: Exception):
        from app.extensions import db

        log.error("database unavailable (%s) path=%s", type(error).__name__, request.path)
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the connection is gone; nothing to roll back
            pass
        if request.path.startswith(("/api/", "/notify/", "/metrics")):
            return jsonify(status="unavailable", message="database unavailable, retry later"), 503
        return Response(DB_DOWN_PAGE, status=503, mimetype="text/html", headers={"Retry-After": "30"})

    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(error, database_away)
