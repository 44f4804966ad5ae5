"""Refusals and failures as friendly H5 pages (never a stack trace, never another patient's data)."""

from __future__ import annotations

import logging

from flask import render_template, request
from flask_babel import gettext as _

from app.his.errors import HisUnavailable
from app.services.errors import DomainError
from h5 import h5_blueprint as bp

log = logging.getLogger(__name__)


@bp.errorhandler(DomainError)
def domain_error(error: DomainError):
    return render_template("h5/error.html", message=error.message), error.status


@bp.errorhandler(HisUnavailable)
def his_unavailable(error: HisUnavailable):
    log.warning("HIS unavailable: %s", error)
    return render_template("h5/error.html", message=_("医院系统暂时无法连接，请稍后再试")), 503


@bp.app_errorhandler(404)
def not_found(error):
    """Any unknown address under /h5/ gets the patient's friendly page; elsewhere staff's (in Chinese)."""
    if not request.path.startswith("/h5/"):
        from app.admin.errors import error_page

        return error_page(error)
    return render_template("h5/error.html", message=_("页面不存在或已失效")), 404
