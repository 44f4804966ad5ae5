"""Home page (every patient service) and the language switch."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from app.registration.rules import payment_minutes
from h5 import h5_blueprint as bp

# (endpoint or path, title, subtitle, icon): the home page's service grid, in the hospital's order.
SERVICES = [
    ("booking", _l("预约挂号"), _l("科室号源 · 医生排班"), "register"),
    ("bills", _l("门诊缴费"), _l("待缴费项 · 在线支付"), "pay"),
    ("queue", _l("排队叫号"), _l("候诊排队 · 队列人数"), "queue"),
    ("reports", _l("报告查询"), _l("检验 · 检查报告"), "report"),
    ("inpatient", _l("住院服务"), _l("押金补缴 · 每日清单"), "inpatient"),
    ("me", _l("个人中心"), _l("就诊人 · 家庭联系人"), "me"),
    ("pregnancy", _l("孕产期保健"), _l("孕周 · 产检计划"), "pregnancy"),
    ("child_health", _l("儿童保健"), _l("儿保计划 · 体检记录"), "child"),
    ("doctors", _l("找医生"), _l("科室 · 医生 · 专长"), "doctor"),
    ("classes", _l("孕妇学校"), _l("课程报名"), "class"),
]


@bp.get("/")
def home():
    # A service whose pages are not deployed shows as "即将开放" instead of a dead link.
    services = [
        {"key": key, "title": title, "subtitle": subtitle, "icon": icon,
         "url": url_for(f"h5.{key}") if f"h5.{key}" in current_app.view_functions else None}
        for key, title, subtitle, icon in SERVICES
    ]
    return render_template("h5/home.html", services=services, pay_minutes=payment_minutes())


@bp.get("/lang/<code>")
def switch_language(code: str):
    """Switch between 简体中文 and English; stays on the page the patient was on."""
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
    target = request.args.get("next") or url_for("h5.home")
    # Only same-site paths: never an open redirect.
    if urlparse(target).netloc or not target.startswith("/"):
        target = url_for("h5.home")
    return redirect(target)
