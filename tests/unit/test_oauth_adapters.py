"""OAuth adapters: WeChat scopes and unionid, Alipay code exchange, sandbox codes."""

from __future__ import annotations

import pytest

from app.channels.identity import OAuthRefused
from doubles.channels.oauth import SandboxOAuth


class FakeWeChatOAuth:
    calls: list[str] = []

    def __init__(self, appid, secret, redirect_uri, scope, state):
        self.scope = scope

    def fetch_access_token(self, code):
        if code == "used":
            from wechatpy.exceptions import WeChatOAuthException

            raise WeChatOAuthException(40163, "code been used")
        return {"openid": "oOPEN", "scope": self.scope, "access_token": "t"}

    def get_user_info(self):
        return {"openid": "oOPEN", "unionid": "uUNION", "nickname": "小王", "headimgurl": "https://x/y.png"}


def test_wechat_base_scope_gives_openid_only_and_userinfo_adds_unionid():
    from app.channels.wechat.oauth import WechatOAuth

    oauth = WechatOAuth("wx1", "secret", client_factory=FakeWeChatOAuth)
    base = oauth.exchange("c1", "base")
    assert (base.uid, base.unionid, base.nickname) == ("oOPEN", None, None)
    full = oauth.exchange("c2", "userinfo")
    assert (full.uid, full.unionid, full.nickname) == ("oOPEN", "uUNION", "小王")
    with pytest.raises(OAuthRefused) as err:
        oauth.exchange("used")
    assert err.value.code == "40163"


def test_wechat_authorize_url_uses_the_scope():
    from app.channels.wechat.oauth import WechatOAuth

    url = WechatOAuth("wx1", "s").authorize_url("https://h.example/cb", "st", "userinfo")
    assert "snsapi_userinfo" in url and "state=st" in url and "appid=wx1" in url


def test_alipay_exchange_calls_system_oauth_token():
    from app.channels.alipay.oauth import AlipayOAuth

    class Client:
        def server_api(self, method, biz_content=None, **kw):
            assert method == "alipay.system.oauth.token"
            assert kw == {"grant_type": "authorization_code", "code": "AC1"}
            return {"user_id": "2088123", "access_token": "t"}

    identity = AlipayOAuth(Client(), "2021").exchange("AC1")
    assert (identity.channel, identity.uid) == ("alipay", "2088123")
    assert "scope=auth_base" in AlipayOAuth(Client(), "2021").authorize_url("https://h/cb", "s")


def test_sandbox_codes_are_bound_to_channel_and_expire(monkeypatch):
    wechat, alipay = SandboxOAuth("wechat", "k"), SandboxOAuth("alipay", "k")
    code = wechat.issue_code("oX", "妈妈", "uX")
    assert wechat.exchange(code).unionid is None and wechat.exchange(code, "userinfo").unionid == "uX"
    with pytest.raises(OAuthRefused):
        alipay.exchange(code)
    import itsdangerous.timed

    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: 10**10)
    with pytest.raises(OAuthRefused) as err:
        wechat.exchange(code)
    assert err.value.message == "code expired"
