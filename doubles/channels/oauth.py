"""The sandbox authorisation: a local page (h5/routes/auth.py) where anyone picks or creates a demo
user, standing in for WeChat's and Alipay's consent pages.

It issues codes the way the channels do: opaque, bound to one channel, valid five minutes. A code
is a signed token, so the exchange needs no shared memory; that each code works once is enforced by
the identity service, exactly as for the real channels.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.channels.identity import ChannelIdentity, OAuthRefused

CODE_TTL_SECONDS = 300


class SandboxOAuth:
    def __init__(self, channel: str, secret: str, authorize_base: str = "/h5/auth/sandbox") -> None:
        self.channel = channel
        self.authorize_base = authorize_base.rstrip("/")
        self._serializer = URLSafeTimedSerializer(secret, salt=f"sandbox-oauth-{channel}")

    def authorize_url(self, redirect_uri: str, state: str, scope: str = "base") -> str:
        query = urlencode({"redirect_uri": redirect_uri, "state": state, "scope": scope})
        return f"{self.authorize_base}/{self.channel}?{query}"

    def issue_code(self, uid: str, nickname: str | None = None, unionid: str | None = None) -> str:
        """What the sandbox consent page hands back on 'allow'."""
        return self._serializer.dumps({"u": uid, "n": nickname, "x": unionid, "r": secrets.token_hex(8)})

    def exchange(self, code: str, scope: str = "base") -> ChannelIdentity:
        try:
            data = self._serializer.loads(code, max_age=CODE_TTL_SECONDS)
        except SignatureExpired as exc:
            raise OAuthRefused("40163" if self.channel == "wechat" else "isv.code-invalid",
                               "code expired") from exc
        except BadSignature as exc:
            raise OAuthRefused("40029" if self.channel == "wechat" else "isv.code-invalid",
                               "invalid code") from exc
        # As on WeChat, the unionid comes only with the userinfo scope. The nickname a demo user was
        # given on the consent page comes back with either scope, so demo accounts stay recognisable.
        userinfo = scope == "userinfo"
        return ChannelIdentity(self.channel, data["u"], data.get("x") if userinfo else None, data.get("n"))
