"""Test data builders (plain functions: each returns a flushed model row; the test commits)."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from contextlib import contextmanager

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


@contextmanager
def public_urls(app, base: str):
    """PUBLIC_BASE_URL and SANDBOX_BASE_URL point at ``base`` inside the block, as configured after it
    (the payment channels, built from them, are rebuilt both times)."""
    old = {k: app.config[k] for k in ("PUBLIC_BASE_URL", "SANDBOX_BASE_URL")}
    app.config.update(PUBLIC_BASE_URL=base, SANDBOX_BASE_URL=f"{base}/sandbox")
    app.extensions.pop("payment_channels", None)
    try:
        yield base
    finally:
        app.config.update(old)
        app.extensions.pop("payment_channels", None)


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
    from app.security.sessions import PATIENT_EPOCH, PATIENT_SINCE
    from h5.auth import ACTIVE_KEY, SESSION_KEY

    now = utcnow().isoformat()
    return {SESSION_KEY: user.id, ACTIVE_KEY: now, PATIENT_SINCE: now, PATIENT_EPOCH: user.session_epoch or 0,
            "_permanent": True}


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


def stay_with_balance(his, card_no: str, balance_fen: int):
    """Arrange ``card_no``'s stay in the HIS simulator so it reports exactly ``balance_fen`` (negative:
    补缴 is due): its days are charged through today, as the ward has done by now, then one charge or one
    deposit at the window makes up the difference. Tests assert what they set here, never what the seed's
    date happened to draw. Returns the stay as the HIS reports it."""
    from sqlalchemy import select

    from app import clock
    from doubles.his.simulator.gateway import next_number
    from doubles.his.simulator.models import CostItemRow, DepositRow, StayRow
    from doubles.his.simulator.seed import post_stay_costs

    stay = his.inpatient_stay(card_no)
    with his.unit() as s:
        row = s.get(StayRow, stay.inpatient_no)
        post_stay_costs(s, row, (row.discharged_at or clock.beijing_now()).date())
    gap = his.inpatient_stay(card_no).balance_fen - balance_fen
    with his.unit() as s:
        if gap > 0:  # more deposit than wanted: the ward posts one more charge today
            day = clock.today()
            seq = len(s.scalars(select(CostItemRow.id).where(CostItemRow.inpatient_no == stay.inpatient_no,
                                                             CostItemRow.day == day)).all()) + 1
            s.add(CostItemRow(inpatient_no=stay.inpatient_no, day=day, seq=seq, name="注射用头孢呋辛钠",
                              category="西药费", quantity=1, unit_price_fen=gap, amount_fen=gap))
        elif gap < 0:  # less than wanted: a deposit at the window
            number = next_number(s, "deposit")
            s.add(DepositRow(deposit_no=f"D{number:09d}", inpatient_no=stay.inpatient_no, amount_fen=-gap,
                             paid_at=clock.beijing_now().replace(microsecond=0), trade_no=f"TEST-DEP-{number}",
                             channel="window"))
    arranged = his.inpatient_stay(card_no)
    assert arranged.balance_fen == balance_fen, arranged
    return arranged
