"""Test data builders (plain functions: each returns a flushed model row; the test commits)."""

from __future__ import annotations

import datetime as dt
import itertools
import time

from app.extensions import db
from app.models import ChannelUser, Patient
from app.models.base import utcnow

_seq = itertools.count(1)


def channel_user(channel: str = "wechat", **values) -> ChannelUser:
    n = next(_seq)
    user = ChannelUser(channel=channel, channel_uid=values.pop("channel_uid", f"{channel}-uid-{n}-{time.time_ns()}"),
                       nickname=values.pop("nickname", f"患者{n}"), **values)
    db.session.add(user)
    db.session.flush()
    return user


def patient(owner: ChannelUser, **values) -> Patient:
    n = next(_seq)
    row = Patient(owner_id=owner.id, name=values.pop("name", "张晓梅"),
                  id_number=values.pop("id_number", "441781199003151227"), phone=values.pop("phone", "13800138000"),
                  gender=values.pop("gender", "female"), birth_date=values.pop("birth_date", dt.date(1990, 3, 15)),
                  relation=values.pop("relation", "self"), card_no=values.pop("card_no", f"TC{n:08d}"),
                  is_default=values.pop("is_default", True), channel=owner.channel, bound_at=utcnow(), **values)
    db.session.add(row)
    db.session.flush()
    return row


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy (asynchronous channel notifications); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def session_for(user: ChannelUser) -> dict:
    """The session a channel login leaves behind (see h5/auth.login_user)."""
    from h5.auth import ACTIVE_KEY, SESSION_KEY

    return {SESSION_KEY: user.id, ACTIVE_KEY: utcnow().isoformat(), "_permanent": True}


def login(client, user: ChannelUser) -> None:
    """Sign a test client in as ``user`` (what the channel's OAuth does, without the channel)."""
    with client.session_transaction() as session:
        session.update(session_for(user))


def login_browser(context, app, base_url: str, user: ChannelUser) -> None:
    """Give a Playwright browser context the signed session cookie of ``user``."""
    serializer = app.session_interface.get_signing_serializer(app)
    context.add_cookies([{"name": app.config.get("SESSION_COOKIE_NAME", "session"),
                          "value": serializer.dumps(session_for(user)), "url": base_url}])


def his_signed_post(app, client, path: str, payload, *, secret=None, timestamp=None, nonce=None,
                    raw: bytes | None = None):
    """POST to the platform's HIS API signed as the HIS would (or with a wrong secret, an old timestamp,
    a reused nonce); returns (response, headers, body) so a test can replay exactly the same call."""
    import json

    from app.services.signing import signed_headers

    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], secret or app.config["HIS_EVENT_SECRET"], "POST", path,
                             body, nonce=nonce, timestamp=timestamp)
    return client.post(path, data=body, headers=headers), headers, body


def his_signed_get(app, client, path: str, *, secret=None):
    from app.services.signing import signed_headers

    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], secret or app.config["HIS_EVENT_SECRET"], "GET", path, b"")
    return client.get(path, headers=headers)
