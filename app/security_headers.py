"""HTTP hardening applied to every response (the reverse proxy adds TLS; we add the rest)."""

from __future__ import annotations

from flask import Flask, request

# Scripts and styles are our own files (WeUI, ECharts vendored) plus small inline blocks.
H5_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
          "script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'self'; base-uri 'self'")


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def _harden(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if request.path.startswith("/h5/"):
            response.headers.setdefault("Content-Security-Policy", H5_CSP)
            # Patient pages carry personal data: never stored by shared proxies.
            response.headers.setdefault("Cache-Control", "private, no-store")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
