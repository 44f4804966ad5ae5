"""Typed errors raised by every HIS gateway.

Callers catch :class:`HisUnavailable` to say "the hospital system is busy, try again" and
:class:`HisBusinessError` subclasses to explain a refusal.  The ``code`` strings are part of the
HTTP contract (``docs/his-api.md``) and never change.
"""

from __future__ import annotations


class HisError(Exception):
    """Base of every HIS failure; carries a stable ``code`` and a human ``message``."""

    code: str = "his_error"
    http_status: int = 500

    def __init__(self, message: str = "", code: str | None = None) -> None:
        super().__init__(message or self.__class__.__name__)
        self.message = message or self.__class__.__name__
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class HisUnavailable(HisError):
    """The HIS could not be reached or failed internally (timeout, connection error, 5xx)."""

    code = "his_unavailable"
    http_status = 503


class HisAuthError(HisError):
    """The HIS refused our credentials (bad signature, stale timestamp, replayed nonce)."""

    code = "unauthorized"
    http_status = 401


class HisBusinessError(HisError):
    """The HIS understood the request and refused it for a business reason."""

    code = "business_error"
    http_status = 409


class SlotFull(HisBusinessError):
    """No remaining capacity in the requested time slice."""

    code = "slot_full"
    http_status = 409


class CardMismatch(HisBusinessError):
    """The card exists but the name or ID number given does not match it."""

    code = "card_mismatch"
    http_status = 422


class NotFound(HisBusinessError):
    """The object does not exist (or does not belong to the given card)."""

    code = "not_found"
    http_status = 404


class AmountMismatch(HisBusinessError):
    """The amount paid or refunded does not match what the HIS expects."""

    code = "amount_mismatch"
    http_status = 409


class AlreadySettled(HisBusinessError):
    """The bill was already settled (or refunded) under another transaction."""

    code = "already_settled"
    http_status = 409


class AlreadyBooked(HisBusinessError):
    """The card already holds a number (a lock or a registration) in this clinic session."""

    code = "already_booked"
    http_status = 409


class LockExpired(HisBusinessError):
    """The slot lock expired or was cancelled before confirmation."""

    code = "lock_expired"
    http_status = 409


class ScheduleStopped(HisBusinessError):
    """The clinic session was stopped (停诊)."""

    code = "schedule_stopped"
    http_status = 409


class InvalidRequest(HisBusinessError):
    """The request is malformed or not allowed in the current state."""

    code = "invalid_request"
    http_status = 400


BUSINESS_ERRORS: dict[str, type[HisBusinessError]] = {
    cls.code: cls
    for cls in (
        SlotFull,
        CardMismatch,
        NotFound,
        AmountMismatch,
        AlreadySettled,
        AlreadyBooked,
        LockExpired,
        ScheduleStopped,
        InvalidRequest,
    )
}


def error_from_code(code: str, message: str) -> HisError:
    """Rebuild the typed error for a contract ``code`` (unknown codes become HisBusinessError)."""
    if code == HisAuthError.code:
        return HisAuthError(message)
    if code == HisUnavailable.code:
        return HisUnavailable(message)
    cls = BUSINESS_ERRORS.get(code)
    if cls is None:
        return HisBusinessError(message, code=code)
    return cls(message)
