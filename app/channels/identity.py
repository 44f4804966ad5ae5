"""Who a patient is, as the channel says: OAuth2 web authorisation (WeChat), auth codes (Alipay),
and the sandbox authorisation that stands in for both in demos and tests.

Providers take and return plain data and know nothing of Flask or our models. ``make_oauth``
is the only constructor the rest of the app needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ChannelIdentity:
    """A channel user as the channel vouched for them after a code exchange."""

    channel: str  # wechat | alipay
    uid: str  # openid / Alipay user id
    unionid: str | None = None  # WeChat: only with snsapi_userinfo
    nickname: str | None = None
    avatar_url: str | None = None


class OAuthRefused(Exception):
    """The channel refused the code (expired, already used, forged) or could not be reached."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OAuthProvider(Protocol):
    channel: str

    def authorize_url(self, redirect_uri: str, state: str, scope: str = "base") -> str:
        """Where to send the patient to authorise; the channel returns to ``redirect_uri``."""

    def exchange(self, code: str, scope: str = "base") -> ChannelIdentity:
        """Exchange a one-time code for the user's identity; raises OAuthRefused."""


def make_oauth(cfg: Mapping[str, Any], channel: str) -> OAuthProvider:
    """The configured provider for ``channel``: OAUTH_MODE 'sandbox' (default) or 'live'."""
    if channel not in ("wechat", "alipay"):
        raise ValueError(f"unknown channel {channel!r}")
    mode = cfg.get("OAUTH_MODE") or "sandbox"
    if mode == "sandbox":
        from app.channels.sandbox.oauth import SandboxOAuth

        return SandboxOAuth(channel, secret=str(cfg["SECRET_KEY"]),
                            authorize_base=str(cfg.get("SANDBOX_OAUTH_URL") or "/h5/auth/sandbox"))
    if mode != "live":
        raise ValueError(f"OAUTH_MODE must be 'sandbox' or 'live', not {mode!r}")
    if channel == "wechat":
        from app.channels.wechat.oauth import WechatOAuth

        return WechatOAuth(appid=str(cfg["WECHAT_APPID"]), secret=str(cfg["WECHAT_APPSECRET"]))
    from app.channels.alipay.oauth import AlipayOAuth

    return AlipayOAuth.from_config(cfg)
