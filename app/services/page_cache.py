"""A shared micro-cache for the public pages everyone reloads when 号源 are released: the department
tree, a department's doctors of a day and a doctor's day of time slices. On a release morning
thousands of patients refresh the same few pages; rendering each one again for every refresh is
what limits how many refreshes a second the servers answer. Only pages with nothing of the visitor's
own on them may use it.

The cache lives in Redis (``SLOT_PAGE_CACHE_URL``; production points it at ``REDIS_URL``), so every
app process and machine shares it; the embedded default has none and renders every time. An entry
lives ``SLOT_PAGE_CACHE_SECONDS`` (1 s by default): the counts a patient sees may be that old, which
is harmless because the booking itself is decided by the database guard (a stale "余 1" ends in
"号源已被约满", never in a second patient on one place). A patient who loses a race comes back to
the page with a message waiting, and such a visit is always rendered fresh.

The cache is an optimisation only: Redis being slow or down is logged and the page is rendered.
"""

from __future__ import annotations

import functools
import hashlib
import logging

from flask import Response, current_app, request, session
from flask_babel import get_locale

log = logging.getLogger("page_cache")

_PREFIX = "h5page:"


def _client():
    """The Redis client (a connection pool, built once per process), or None when not configured."""
    url = current_app.config.get("SLOT_PAGE_CACHE_URL") or ""
    if not url or not current_app.config.get("SLOT_PAGE_CACHE_SECONDS"):
        return None
    client = current_app.extensions.get("page_cache")
    if client is None:
        import redis

        # short timeouts: a page never waits long on its cache
        client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        current_app.extensions["page_cache"] = client
    return client


def _key() -> str:
    # the whole URL (query included) and the language: one entry per variant of the page
    raw = f"{get_locale()}|{request.full_path}"
    return _PREFIX + hashlib.sha1(raw.encode()).hexdigest()


def public_page(view):
    """Cache the decorated public view's rendered pages for ``SLOT_PAGE_CACHE_SECONDS``.

    Bypassed when the visitor has a flash message waiting (it belongs on their page only)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        from app.operations.metrics import PAGE_CACHE

        client = _client()
        if client is None or session.get("_flashes"):
            PAGE_CACHE.labels(outcome="bypass").inc()
            return view(*args, **kwargs)
        key = _key()
        try:
            body = client.get(key)
        except Exception as exc:  # noqa: BLE001 - any cache failure means: render as if there were none
            PAGE_CACHE.labels(outcome="error").inc()
            log.warning("page cache unavailable (%s): rendering %s", type(exc).__name__, request.path)
            return view(*args, **kwargs)
        if body is not None:
            PAGE_CACHE.labels(outcome="hit").inc()
            return Response(body, mimetype="text/html")
        PAGE_CACHE.labels(outcome="miss").inc()
        answer = view(*args, **kwargs)
        if isinstance(answer, str):  # a rendered page; redirects and errors are never kept
            try:
                client.set(key, answer.encode(), ex=int(current_app.config["SLOT_PAGE_CACHE_SECONDS"]))
            except Exception as exc:  # noqa: BLE001 - see above
                log.warning("page cache not stored (%s): %s", type(exc).__name__, request.path)
        return answer

    return wrapper
