"""One way to build a link to a patient page, for every notice, push and redirect.

Notices store the site-relative path (``/h5/...``): the message centre shows 查看详情 for it, and the
push adapters make it absolute with ``absolute()`` (the 服务号/服务窗 need a full https address).
Works inside a request, a Huey task or the CLI alike.
"""

from __future__ import annotations

from flask import current_app, has_request_context, url_for


def patient_url(endpoint: str, **values: object) -> str:
    """The site-relative path of a patient (H5) page, e.g. ``/h5/booking/orders/12``."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


def absolute(path: str) -> str:
    """``path`` on the public address patients reach (PUBLIC_BASE_URL); absolute links pass through."""
    if path.startswith(("http://", "https://")):
        return path
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + "/" + path.lstrip("/")


def site_path(link: str | None) -> str | None:
    """The site-relative path of a link to our own pages, or None for a foreign or empty one.

    Notices written before every link went through ``patient_url`` hold absolute addresses on
    PUBLIC_BASE_URL; the message centre still offers them as site links.
    """
    if not link:
        return None
    if link.startswith("/") and not link.startswith("//"):
        return link
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base and link.startswith(base + "/"):
        return link[len(base):]
    return None
