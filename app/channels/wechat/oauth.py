"""WeChat 服务号 web authorisation (网页授权) through wechatpy.

snsapi_base is silent and yields the openid; snsapi_userinfo asks the patient and also yields the
nickname, avatar and unionid. Codes are single-use and expire after five minutes (WeChat enforces
it; the identity service refuses a replay before we even ask).
"""

from __future__ import annotations

from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from app.channels.identity import ChannelIdentity, OAuthRefused

SCOPES = {"base": "snsapi_base", "userinfo": "snsapi_userinfo"}


class WechatOAuth:
    channel = "wechat"

    def __init__(self, appid: str, secret: str, client_factory=WeChatOAuth) -> None:
        self.appid, self.secret = appid, secret
        self._factory = client_factory

    def _client(self, redirect_uri: str = "", scope: str = "base", state: str = "") -> WeChatOAuth:
        return self._factory(self.appid, self.secret, redirect_uri, SCOPES.get(scope, "snsapi_base"), state)

    def authorize_url(self, redirect_uri: str, state: str, scope: str = "base") -> str:
        return self._client(redirect_uri, scope, state).authorize_url

    def exchange(self, code: str, scope: str = "base") -> ChannelIdentity:
        client = self._client(scope=scope)
        try:
            token = client.fetch_access_token(code)
            if token.get("scope") == "snsapi_userinfo" or scope == "userinfo":
                info = client.get_user_info()
                return ChannelIdentity("wechat", info["openid"], info.get("unionid") or token.get("unionid"),
                                       info.get("nickname"), info.get("headimgurl"))
            return ChannelIdentity("wechat", token["openid"], token.get("unionid"))
        except WeChatOAuthException as exc:
            raise OAuthRefused(str(exc.errcode or "http"), str(exc.errmsg or exc)) from exc
        except (KeyError, OSError) as exc:
            raise OAuthRefused("unavailable", str(exc)) from exc
