"""Error pages staff read in Chinese (400, 403, 404, 405, 429, 500), never Werkzeug's or Flask-Limiter's
English page or a stack trace. Patients under /h5/ get their own page (h5/errors.py)."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError

#: status -> (title, what the reader can do)
PAGES = {
    400: (_l("请求无效"), _l("页面已过期或提交的内容不完整，请返回上一页刷新后重试。")),
    403: (_l("没有权限"), _l("您的角色不能使用这个页面或操作；如需使用，请联系信息科开通。")),
    404: (_l("页面不存在"), _l("地址有误，或这条记录已不存在。")),
    405: (_l("不支持的操作"), _l("这个页面不能这样打开，请从菜单进入。")),
    429: (_l("操作过于频繁"), _l("请稍候一分钟再试。")),
    500: (_l("系统出错了"), _l("操作没有完成，已记录日志；请稍后重试，仍不行请联系信息科。")),
}


def error_page(error: HTTPException):
    code = error.code or 500
    title, hint = PAGES.get(code, (_l("请求未能完成"), PAGES[500][1]))
    if request.path.startswith("/h5/"):
        return render_template("h5/error.html", message=str(title)), code
    if request.path.startswith(("/api/", "/notify/", "/metrics")):  # machines: the APIs' own error shape
        return {"code": error.name.lower().replace(" ", "_"), "message": error.description}, code
    return render_template("backoffice/error.html", code=code, title=title, hint=hint), code


def server_error(error: InternalServerError):
    """An unexpected exception (Flask logs it): the page, without the trace. Under TESTING Flask re-raises
    instead, so a test sees the trace."""
    return error_page(InternalServerError())


def register_error_pages(app: Flask) -> None:
    app.register_error_handler(HTTPException, error_page)
    app.register_error_handler(InternalServerError, server_error)
