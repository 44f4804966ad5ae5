"""What a piece of code sends to the database: for tests that count round trips or check their order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from app.extensions import db


@contextmanager
def statements_sent(*, commits: bool = False) -> Iterator[list[str]]:
    """Collect every statement sent inside the block (whitespace folded), and "COMMIT" for each commit
    when ``commits``. Call inside an app context."""
    engine = db.engine
    seen: list[str] = []

    def statement(_conn, _cursor, text, *_args) -> None:
        seen.append(" ".join(text.split()))

    def commit(_conn) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    if commits:
        event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        if commits:
            event.remove(engine, "commit", commit)
