"""Refusals of a sign-in or a card binding, as HTTP errors carrying when to try again."""

from __future__ import annotations

import datetime as dt

from werkzeug.exceptions import Locked, TooManyRequests


class TooManyAttempts(TooManyRequests):
    """429: too many failures from this client, for this account or this card; retry after ``until``."""

    def __init__(self, until: dt.datetime, what: str = "login") -> None:
        super().__init__()
        self.until = until
        self.what = what


class AccountLocked(Locked):
    """423: the operator's account is locked until ``until`` (or an administrator unlocks it)."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__()
        self.until = until
