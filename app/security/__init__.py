"""Security of staff and patients (issue 15, 等保 2.0 level 3): see docs/security.md for the map.

``register_security`` wires what is not a Flask-AppBuilder hook: the real client address behind the
configured number of trusted proxies, the Chinese 423/429 pages, and the guard that keeps an operator on
the password or second-factor page until the policy is met.
"""

from __future__ import annotations

from flask import Flask, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.middleware.proxy_fix import ProxyFix

# Pages an operator may open before the policy is met (changing the password, enrolling 2FA, leaving).
GUARD_OPEN = {"ResetMyPasswordView.this_form_get", "ResetMyPasswordView.this_form_post",
              "TwoFactorView.two_factor", "AuthDBView.login", "AuthDBView.logout", "SecondFactorView.verify",
              "static", "appbuilder.static", "LocaleView.index"}
GUARD_OPEN_PREFIXES = ("/h5", "/api", "/notify", "/sandbox", "/static", "/metrics")


def register_security(app: Flask) -> None:
    from app.security import audit_trail  # noqa: F401  (the append-only guard on AuditLog)

    proxies = int(app.config.get("TRUSTED_PROXY_COUNT", 0))
    if proxies:
        # Only the last N hops are ours; anything further left in X-Forwarded-For is the client's word.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    @app.errorhandler(423)
    @app.errorhandler(429)
    def _refused(error):
        """A refused sign-in says until when; any other 423/429 gets the usual error page."""
        from app.admin.errors import error_page
        from app.security.errors import AccountLocked, TooManyAttempts
        from app.security.views import refused_page

        if isinstance(error, AccountLocked | TooManyAttempts):
            return refused_page(error)
        return error_page(error)

    app.before_request(enforce_staff_policy)


def enforce_staff_policy():
    """An operator with an expired password changes it; one whose role requires 2FA enrols first."""
    from flask_login import current_user

    if request.endpoint is None or request.endpoint in GUARD_OPEN or request.path.startswith(GUARD_OPEN_PREFIXES):
        return None
    if not current_user.is_authenticated:
        return None
    from sqlalchemy import select

    from app.extensions import db
    from app.models import OperatorProfile
    from app.security import passwords
    from app.security.views import staff_requires_totp
    from app.services.settings import security_rules

    rules = security_rules()
    profile = db.session.scalar(select(OperatorProfile).where(OperatorProfile.user_id == current_user.id))
    if profile is None:  # complete_login writes it; a session from before that is refused by its fingerprint
        return None
    if passwords.expired(profile.password_changed_at, rules.password_expiry_days):
        flash(_("密码已超过 %(n)d 天未修改，请先修改密码", n=rules.password_expiry_days), "warning")
        return redirect(url_for("ResetMyPasswordView.this_form_get"))
    if not profile.totp_enabled_at and staff_requires_totp(current_user):
        return redirect(url_for("TwoFactorView.two_factor"))
    g.staff_policy_checked = True
    return None
