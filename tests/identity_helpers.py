"""Signing a patient in through the real sandbox authorisation flow, and seeded HIS patients."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from doubles.his.simulator.seed import generate_patients

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
ALIPAY_UA = "Mozilla/5.0 (Linux; Android 13) Mobile Safari/537.36 AlipayClient/10.5.36.8000"


def sandbox_sign_in(client, channel: str = "wechat", uid: str = "new", nickname: str = "测试妈妈",
                    next_url: str = "/h5/me", scope: str | None = None) -> str:
    """Walk login -> sandbox consent -> callback; returns the callback URL (with its one-time code)."""
    ua = WECHAT_UA if channel == "wechat" else ALIPAY_UA
    client.environ_base["HTTP_USER_AGENT"] = ua
    query = {"next": next_url}
    if scope:
        query["scope"] = scope
    login = client.get("/h5/login", query_string=query)
    assert login.status_code == 302, login.get_data(as_text=True)[:300]
    consent = urlparse(login.headers["Location"])
    assert consent.path == f"/h5/auth/sandbox/{channel}"
    params = {k: v[0] for k, v in parse_qs(consent.query).items()}
    assert client.get(consent.path, query_string=params).status_code == 200
    allow = client.post(consent.path, data={**params, "uid": uid, "nickname": nickname})
    assert allow.status_code == 302
    callback = allow.headers["Location"]
    done = client.get(callback)
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    assert done.headers["Location"].endswith(next_url)
    return callback


def seeded(group: str, index: int = 0):
    """A patient the seeded HIS knows (group mother | child | adult)."""
    return [p for p in generate_patients() if p.group == group][index]


def bind_form(p, relation: str = "self", with_card: bool = True, **extra) -> dict[str, str]:
    data = {"relation": relation, "name": p.name, "id_number": p.id_number, "phone": p.phone,
            "card_no": p.card_no if with_card else ""}
    data.update(extra)
    return data


def queue_and_report_patient(app):
    """A seeded patient waiting in a clinic queue today, with a ready lab report showing abnormal
    values (found through the HIS, as the demo card list does)."""
    from doubles.demo.hospital import demo_patient_cards

    app.config["SANDBOX_DEMO_CARDS"] = True
    try:
        with app.app_context():
            cards = demo_patient_cards(limit=1)
    finally:
        app.config["SANDBOX_DEMO_CARDS"] = False
    assert cards, "the seeded HIS has no patient waiting today with an abnormal lab report"
    return next(p for p in generate_patients() if p.card_no == cards[0]["card_no"])
