"""Domain errors carry their HTTP status and a translatable message for the patient or staff."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can understand; ``message`` is already translated by the raiser."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """Also used for "not yours": we answer 404 to avoid telling which ids exist."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
