"""Sign-in (授权登录): WeChat OAuth, Alipay auth code, or the sandbox authorisation page.

No registration and no password: the channel vouches for the patient. ``h5.login`` is where
``login_required`` sends a visitor; the channel returns to ``h5.auth_callback`` with a one-time code.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlparse

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from app.channels.identity import make_oauth
from app.identity.sign_in import SignInRefused, sandbox_accounts, sign_in_with_code
from h5 import h5_blueprint as bp
from h5.auth import current_user, detect_channel, login_user, logout_user

OAUTH_KEY = "oauth_pending"


def _sandbox() -> bool:
    return current_app.config.get("OAUTH_MODE", "sandbox") == "sandbox"


def safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    target = target or ""
    if not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return url_for("h5.home")
    return target


def _callback_url(channel: str) -> str:
    path = url_for("h5.auth_callback", channel=channel)
    if _sandbox():
        return request.host_url.rstrip("/") + path
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + path


@bp.get("/login")
def login():
    next_url = safe_next(request.args.get("next"))
    channel = detect_channel(request.user_agent.string)
    if channel is None and _sandbox() and request.args.get("channel") in ("wechat", "alipay"):
        channel = request.args["channel"]  # the desktop demo picks a channel explicitly
    if channel is None:
        return render_template("h5/open_in_app.html", next_url=next_url, sandbox=_sandbox()), 200
    scope = "userinfo" if request.args.get("scope") == "userinfo" else "base"
    state = secrets.token_urlsafe(16)
    session[OAUTH_KEY] = {"state": state, "next": next_url, "channel": channel, "scope": scope}
    provider = make_oauth(current_app.config, channel)
    return redirect(provider.authorize_url(_callback_url(channel), state, scope))


@bp.get("/auth/<channel>/callback")
def auth_callback(channel: str):
    pending = session.pop(OAUTH_KEY, None) or {}
    code = request.args.get("code") or request.args.get("auth_code") or ""
    if (channel not in ("wechat", "alipay") or pending.get("channel") != channel
            or not secrets.compare_digest(str(pending.get("state", "")), request.args.get("state", ""))):
        return render_template("h5/error.html", message=_("授权已失效，请重新进入")), 400
    try:
        user = sign_in_with_code(make_oauth(current_app.config, channel), code, pending.get("scope", "base"))
    except SignInRefused as exc:
        return render_template("h5/error.html", message=exc.message), exc.status
    login_user(user)
    return redirect(safe_next(pending.get("next")))


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("h5.home"))


# --- the sandbox authorisation page (OAUTH_MODE = "sandbox" only) ----------------------------------

def _sandbox_redirect_ok(redirect_uri: str, channel: str) -> bool:
    parsed = urlparse(redirect_uri)
    return (parsed.netloc in ("", request.host)
            and parsed.path == url_for("h5.auth_callback", channel=channel))


def _new_uid(channel: str) -> str:
    if channel == "wechat":
        return "oSBX" + secrets.token_urlsafe(18)[:24]
    return "2088" + "".join(secrets.choice("0123456789") for _ in range(12))


@bp.route("/auth/sandbox/<channel>", methods=["GET", "POST"])
def sandbox_authorize(channel: str):
    if not _sandbox() or channel not in ("wechat", "alipay"):
        abort(404)
    args = request.values
    redirect_uri, state, scope = args.get("redirect_uri", ""), args.get("state", ""), args.get("scope", "base")
    if not _sandbox_redirect_ok(redirect_uri, channel):
        return render_template("h5/error.html", message=_("授权参数错误")), 400
    if request.method == "GET":
        return render_template("h5/sandbox_authorize.html", channel=channel, accounts=sandbox_accounts(channel),
                               redirect_uri=redirect_uri, state=state, scope=scope)
    provider = make_oauth(current_app.config, channel)
    uid = request.form.get("uid", "")
    nickname = (request.form.get("nickname") or "").strip()[:32] or None
    if uid == "new":
        uid = _new_uid(channel)
        nickname = nickname or _("演示用户")
    elif uid not in {a.channel_uid for a in sandbox_accounts(channel, limit=200)}:
        return render_template("h5/error.html", message=_("授权参数错误")), 400
    unionid = f"uSBX{uid[-20:]}" if channel == "wechat" else None
    code = provider.issue_code(uid, nickname, unionid)  # type: ignore[attr-defined]
    key = "code" if channel == "wechat" else "auth_code"
    return redirect(f"{redirect_uri}?{urlencode({key: code, 'state': state})}")


@bp.app_context_processor
def inject_current_user():
    return {"current_patient_user": current_user}
