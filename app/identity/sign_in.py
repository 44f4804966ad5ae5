"""Channel sign-in: a one-time code from WeChat, Alipay or the sandbox becomes a channel user.

Each (channel, openid / Alipay user id) is one account. A code is claimed in ``api_nonce`` before it
is exchanged, so a replayed code is refused even if the channel would answer it again.
"""

from __future__ import annotations

import hashlib
import logging

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.channels.identity import ChannelIdentity, OAuthProvider, OAuthRefused
from app.extensions import db
from app.models import ApiNonce, ChannelUser
from app.models.base import utcnow
from app.services import audit
from app.services.errors import DomainError
from app.services.uow import unit_of_work

log = logging.getLogger(__name__)

#: channel uids of the back-office demo month's accounts (doubles/demo/backoffice.py): never offered at sign-in
ACCOUNT_PREFIX = "demo-bo-"


class SignInRefused(DomainError):
    status = 400
    code = "oauth_refused"


def claim_code(channel: str, code: str) -> None:
    """Mark ``code`` used (its own committed transaction); a second claim raises SignInRefused."""
    if not code or len(code) > 512:
        raise SignInRefused(_("授权失败，请重新进入"))
    digest = hashlib.sha256(f"{channel}:{code}".encode()).hexdigest()
    try:
        with unit_of_work():
            db.session.add(ApiNonce(caller=f"oauth-{channel}"[:32], nonce=digest))
    except IntegrityError:
        log.warning("oauth code replay refused channel=%s", channel)
        raise SignInRefused(_("授权码已使用或已失效，请重新进入")) from None


def sign_in_with_code(provider: OAuthProvider, code: str, scope: str = "base") -> ChannelUser:
    """Exchange a one-time code through ``provider`` and return the (created or updated) account."""
    claim_code(provider.channel, code)
    try:
        identity = provider.exchange(code, scope)
    except OAuthRefused as exc:
        log.warning("oauth exchange refused channel=%s code=%s", provider.channel, exc.code)
        raise SignInRefused(_("授权码已使用或已失效，请重新进入")) from exc
    return upsert_channel_user(identity)


def upsert_channel_user(identity: ChannelIdentity) -> ChannelUser:
    """The account of this channel identity, created on first sign-in; profile fields refreshed."""
    with unit_of_work():
        user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel == identity.channel,
                                                           ChannelUser.channel_uid == identity.uid))
        created = user is None
        if created:
            user = ChannelUser(channel=identity.channel, channel_uid=identity.uid)
            db.session.add(user)
        if identity.unionid:
            user.unionid = identity.unionid
        if identity.nickname:
            user.nickname = identity.nickname[:64]
        if identity.avatar_url:
            user.avatar_url = identity.avatar_url[:255]
        user.last_login_at = utcnow()
        db.session.flush()
        audit.record("patient.sign_in", actor_type="patient", actor_id=str(user.id),
                     target_type="channel_user", target_id=user.id,
                     detail=f"channel={identity.channel} new={created}")
    return user


def sandbox_accounts(channel: str, limit: int = 20) -> list[ChannelUser]:
    """Accounts the sandbox authorisation page offers to sign in as (sandbox mode only); the
    back-office demo month's accounts are history for staff pages, not people to sign in as."""
    return list(db.session.scalars(select(ChannelUser).where(ChannelUser.channel == channel,
                                                             ChannelUser.channel_uid.not_like(f"{ACCOUNT_PREFIX}%"))
                                   .order_by(ChannelUser.last_login_at.desc(), ChannelUser.id.desc())
                                   .limit(limit)))
