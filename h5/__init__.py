"""The patient H5 pages, opened inside the WeChat 服务号 and the Alipay 服务窗."""

from __future__ import annotations

from flask import Blueprint

h5_blueprint = Blueprint("h5", __name__, template_folder="templates", static_folder="static",
                         static_url_path="/static")

from h5 import context, errors  # noqa: E402,F401
from h5.routes import auth, bills, booking, home, inpatient, me, pay, queries  # noqa: E402,F401
from h5.routes import mothers, registration, waitlist  # noqa: E402,F401  (for mothers and children, issue 17)
