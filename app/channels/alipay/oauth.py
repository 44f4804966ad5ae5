"""Alipay 服务窗 authorisation: the auth code exchanged through ``alipay.system.oauth.token``.

auth_base yields the user id silently; auth_user also lets us read the nickname and avatar with
``alipay.user.info.share``. Responses are verified with the Alipay public key by the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from app.channels.alipay.errors import alipay_error
from app.channels.identity import ChannelIdentity, OAuthRefused

AUTHORIZE_URL = "https://openauth.alipay.com/oauth2/publicAppAuthorize.htm"
LIVE_GATEWAY = "https://openapi.alipay.com/gateway.do"
SCOPES = {"base": "auth_base", "userinfo": "auth_user"}


class AlipayOAuth:
    channel = "alipay"

    def __init__(self, client: AliPay, app_id: str, authorize_base: str = AUTHORIZE_URL) -> None:
        self.client, self.app_id, self.authorize_base = client, app_id, authorize_base

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> AlipayOAuth:
        def read(value: str) -> str:
            return Path(value).expanduser().read_text(encoding="utf-8") if "BEGIN" not in value else value

        client = AliPay(appid=str(cfg["ALIPAY_APPID"]), app_notify_url=None,
                        app_private_key_string=read(str(cfg["ALIPAY_PRIVATE_KEY"])),
                        alipay_public_key_string=read(str(cfg["ALIPAY_PUBLIC_KEY"])), sign_type="RSA2")
        client._gateway = str(cfg.get("ALIPAY_GATEWAY") or LIVE_GATEWAY)
        return cls(client, str(cfg["ALIPAY_APPID"]))

    def authorize_url(self, redirect_uri: str, state: str, scope: str = "base") -> str:
        query = urlencode({"app_id": self.app_id, "scope": SCOPES.get(scope, "auth_base"),
                           "redirect_uri": redirect_uri, "state": state})
        return f"{self.authorize_base}?{query}"

    def exchange(self, code: str, scope: str = "base") -> ChannelIdentity:
        try:
            token = self.client.server_api("alipay.system.oauth.token", grant_type="authorization_code",
                                           code=code)
            uid = token.get("user_id") or token.get("open_id")
            if not uid:
                raise OAuthRefused("no_user", "the token carried no user id")
            if scope != "userinfo":
                return ChannelIdentity("alipay", uid)
            info = self.client.server_api("alipay.user.info.share", auth_token=token["access_token"])
            return ChannelIdentity("alipay", uid, None, info.get("nick_name"), info.get("avatar"))
        except AliPayValidationError as exc:
            raise OAuthRefused("bad_signature", "response signature did not verify") from exc
        except AliPayException as exc:
            raise OAuthRefused(str(alipay_error(exc)[0] or "refused"), alipay_error(exc)[1][:200]) from exc
        except OSError as exc:
            raise OAuthRefused("unavailable", str(exc)) from exc
