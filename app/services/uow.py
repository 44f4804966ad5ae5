"""Unit of work: one place that commits or rolls back."""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import TypeVar
from collections.abc import Callable, Iterator

from app.extensions import db

T = TypeVar("T")


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did, or roll all of it back and re-raise."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def transaction(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of ``unit_of_work`` for service functions."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        with unit_of_work():
            return fn(*args, **kwargs)

    return wrapper
