"""Who a patient is, as the channel says: OAuth2 web authorisation (WeChat), auth codes (Alipay),
and, registered by app/doubles_switch.py, the sandbox authorisation (doubles/channels/) that stands in for
both in demos and tests.

Providers take and return plain data and know nothing of Flask or our models. ``make_oauth``
is the only constructor the rest of the app needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


#: OAUTH_MODE -> builder of a provider for a channel, for modes the product does not build itself (the
#: sandbox, registered by app/doubles_switch.py; a production image has none)
OAUTH_MODES: dict[str, Callable[[Mapping[str, Any], str], OAuthProvider]] = {}


def register_oauth_mode(mode: str, builder: Callable[[Mapping[str, Any], str], OAuthProvider]) -> None:
    """Let ``make_oauth`` build OAUTH_MODE ``mode`` (idempotent)."""
    OAUTH_MODES[mode] = builder


def make_oauth(cfg: Mapping[str, Any], channel: str) -> OAuthProvider:
    """The configured provider for ``channel``: OAUTH_MODE 'sandbox' (default; needs the doubles) or 'live'."""
    if channel not in ("wechat", "alipay"):
        raise ValueError(f"unknown channel {channel!r}")
    mode = cfg.get("OAUTH_MODE") or "sandbox"
    if mode in OAUTH_MODES:
        return OAUTH_MODES[mode](cfg, channel)
    if mode == "sandbox":
        raise ValueError("OAUTH_MODE=sandbox needs the doubles package (doubles/channels), which is not "
                         "plugged in: set OAUTH_MODE=live")
    if mode != "live":
        raise ValueError(f"OAUTH_MODE must be 'sandbox' or 'live', not {mode!r}")
    if channel == "wechat":
        from app.channels.wechat.oauth import WechatOAuth

        return WechatOAuth(appid=str(cfg["WECHAT_APPID"]), secret=str(cfg["WECHAT_APPSECRET"]))
    from app.channels.alipay.oauth import AlipayOAuth

    return AlipayOAuth.from_config(cfg)
