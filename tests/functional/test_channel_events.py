"""/wechat/events (verify, signature, encrypted mode, hostile XML) and the Alipay 服务窗 gateway."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import ChannelUser, FollowEvent, Notification

TOKEN = "dev-wechat-token"


def _sig(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _args(timestamp: str | None = None, nonce: str = "n1") -> dict[str, str]:
    timestamp = timestamp or str(int(clock.now().timestamp()))
    return {"signature": _sig(TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


def _event(event: str, openid: str = "oFOLLOW1", at: int = 1700000000) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_hosp]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event></xml>")


def test_url_verification_echoes_only_for_a_good_signature(client):
    assert client.get("/wechat/events", query_string={**_args(), "echostr": "e123"}).get_data(as_text=True) == "e123"
    bad = {**_args(), "signature": "0" * 40, "echostr": "e123"}
    assert client.get("/wechat/events", query_string=bad).status_code == 403


def test_follow_and_unfollow_are_recorded_with_a_welcome_reply(app, client):
    reply = client.post("/wechat/events", query_string=_args(), data=_event("subscribe"))
    assert reply.status_code == 200 and "欢迎关注" in reply.get_data(as_text=True)
    assert "<ToUserName><![CDATA[oFOLLOW1]]>" in reply.get_data(as_text=True)
    client.post("/wechat/events", query_string=_args(), data=_event("subscribe"))  # WeChat retries
    client.post("/wechat/events", query_string=_args(), data=_event("unsubscribe", at=1700000100))
    with app.app_context():
        events = db.session.scalars(select(FollowEvent).order_by(FollowEvent.id)).all()
        assert [(e.channel, e.event) for e in events] == [("wechat", "subscribe"), ("wechat", "unsubscribe")]
        user = db.session.scalar(select(ChannelUser))
        assert user.channel_uid == "oFOLLOW1" and not user.subscribed


def test_a_genuine_push_replayed_thirty_days_later_is_refused(app, client):
    old = str(int((clock.now() - dt.timedelta(days=30)).timestamp()))
    assert client.post("/wechat/events", query_string=_args(old), data=_event("subscribe")).status_code == 403
    early = str(int((clock.now() + dt.timedelta(minutes=10)).timestamp()))
    assert client.post("/wechat/events", query_string=_args(early), data=_event("subscribe")).status_code == 403
    assert client.get("/wechat/events", query_string={**_args(old), "echostr": "e1"}).status_code == 403
    with app.app_context():
        assert db.session.query(FollowEvent).count() == 0
    assert client.post("/wechat/events", query_string=_args(), data=_event("subscribe")).status_code == 200


def test_unsigned_push_is_refused_and_records_nothing(app, client):
    response = client.post("/wechat/events", query_string={**_args(), "signature": "x"}, data=_event("subscribe"))
    assert response.status_code == 403
    with app.app_context():
        assert db.session.query(FollowEvent).count() == 0


@pytest.mark.parametrize("body", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><ToUserName>&b;'
    "</ToUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>",
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><FromUserName>&e;'
    "</FromUserName></xml>",
    "<xml><a>", "not xml at all", "",
])
def test_hostile_or_broken_xml_gets_400(client, body):
    assert client.post("/wechat/events", query_string=_args(), data=body).status_code == 400


def test_encrypted_mode_round_trip(app, client):
    from wechatpy.crypto import WeChatCrypto

    aes_key = base64.b64encode(b"k" * 32).decode()[:43]
    app.config["WECHAT_ENCODING_AES_KEY"] = aes_key
    try:
        crypto = WeChatCrypto(TOKEN, aes_key, app.config["WECHAT_APPID"])
        ts, nonce = str(int(time.time())), "n2"
        encrypted = crypto.encrypt_message(_event("subscribe", "oSAFE"), nonce, ts)
        import xmltodict

        doc = xmltodict.parse(encrypted)["xml"]
        args = {**_args(ts, nonce), "encrypt_type": "aes", "msg_signature": doc["MsgSignature"]}
        body = f"<xml><ToUserName>gh_hosp</ToUserName><Encrypt><![CDATA[{doc['Encrypt']}]]></Encrypt></xml>"
        reply = client.post("/wechat/events", query_string=args, data=body)
        assert reply.status_code == 200
        text = reply.get_data(as_text=True)
        assert "<Encrypt>" in text and "欢迎" not in text  # the reply is encrypted too
        assert "欢迎关注" in crypto.decrypt_message(text, xmltodict.parse(text)["xml"]["MsgSignature"], ts, nonce)
        tampered = {**args, "msg_signature": "0" * 40}
        assert client.post("/wechat/events", query_string=tampered, data=body).status_code == 403
        with app.app_context():
            assert db.session.scalar(select(FollowEvent.channel_uid)) == "oSAFE"
    finally:
        app.config["WECHAT_ENCODING_AES_KEY"] = ""


# --- Alipay 服务窗 gateway ------------------------------------------------------------------------

def _alipay_signed(app, params: dict[str, str]) -> dict[str, str]:
    """Sign as Alipay does, with the sandbox's Alipay platform key."""
    from alipay import AliPay

    from doubles.channels.keys import ensure_sandbox_keys

    keys = ensure_sandbox_keys(app.config["SANDBOX_KEYS_DIR"])
    signer = AliPay(appid="x", app_notify_url=None, app_private_key_string=keys.read(keys.alipay_platform_key),
                    alipay_public_key_string=keys.read(keys.alipay_public_key), sign_type="RSA2")
    data = {**params, "sign_type": "RSA2", "charset": "UTF-8"}
    unsigned = "&".join(f"{k}={v}" for k, v in sorted(data.items()) if k != "sign_type")
    return {**data, "sign": signer._sign(unsigned)}


def _follow_xml(event: str, uid: str = "2088000000000777") -> str:
    return (f"<XML><AppId>2021000000000000</AppId><FromAlipayUserId>{uid}</FromAlipayUserId>"
            f"<CreateTime>1700000000000</CreateTime><MsgType>event</MsgType><EventType>{event}</EventType></XML>")


def test_alipay_gateway_check_answers_our_public_key_signed(app, client):
    response = client.post("/alipay/gateway", data=_alipay_signed(app, {"service": "alipay.service.check"}))
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "<success>true</success>" in text and "<sign>" in text


def test_alipay_follow_is_recorded_and_welcomed(app, client):
    params = {"service": "alipay.mobile.public.message.notify", "biz_content": _follow_xml("follow")}
    assert client.post("/alipay/gateway", data=_alipay_signed(app, params)).status_code == 200
    with app.app_context():
        event = db.session.scalar(select(FollowEvent))
        assert (event.channel, event.event, event.channel_uid) == ("alipay", "subscribe", "2088000000000777")
        assert db.session.scalar(select(Notification.kind)) == "welcome"


def test_alipay_forged_or_hostile_posts_are_refused(app, client):
    params = {"service": "alipay.mobile.public.message.notify", "biz_content": _follow_xml("follow")}
    forged = {**_alipay_signed(app, params), "biz_content": _follow_xml("follow", "2088999")}
    assert client.post("/alipay/gateway", data=forged).status_code == 403
    hostile = {"service": "alipay.mobile.public.message.notify",
               "biz_content": '<!DOCTYPE x [<!ENTITY a "b">]><XML><MsgType>&a;</MsgType></XML>'}
    assert client.post("/alipay/gateway", data=_alipay_signed(app, hostile)).status_code == 400
    with app.app_context():
        assert db.session.query(FollowEvent).count() == 0
