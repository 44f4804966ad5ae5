"""HTTP hardening applied to every response (the reverse proxy adds TLS; we add the rest).

Content-Security-Policy without inline scripts: a script runs only from our own files or when it carries
this response's nonce. Templates write ``<script nonce="{{ csp_nonce() }}">`` (Flask-AppBuilder's own
templates already ask for ``csp_nonce``); an injected ``<script>`` has no nonce and does not run.
"""

from __future__ import annotations

import secrets

from flask import Flask, g, request

# Styles may stay inline (WeUI, Bootstrap attributes); scripts may not.
_COMMON = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
           "connect-src 'self'; object-src 'none'; frame-ancestors 'self'; base-uri 'self'")
# The WeChat JS bridge is injected by the WeChat client itself, not loaded, so no host is needed here.
H5_CSP = _COMMON + "; script-src 'self' 'nonce-{nonce}'"
BACKOFFICE_CSP = _COMMON + "; script-src 'self' 'nonce-{nonce}'; form-action 'self'"


def csp_nonce() -> str:
    """This response's script nonce (one per request)."""
    nonce = g.get("_csp_nonce")
    if nonce is None:
        nonce = g._csp_nonce = secrets.token_urlsafe(18)
    return nonce


def register_security_headers(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _harden(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith("/h5/"):
            response.headers.setdefault("Content-Security-Policy", H5_CSP.format(nonce=csp_nonce()))
            # Patient pages carry personal data: never stored by shared proxies.
            response.headers.setdefault("Cache-Control", "private, no-store")
        elif response.mimetype == "text/html" and not request.path.startswith(("/sandbox", "/his/")):
            response.headers.setdefault("Content-Security-Policy", BACKOFFICE_CSP.format(nonce=csp_nonce()))
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
