"""The Huey queue and every task module; the consumer is pointed at ``run.huey``.

The queue is built from HUEY_URL (or REDIS_URL in production) at import time because task
decorators need it then: ``redis://…`` gives RedisHuey, ``sqlite:///path`` SqliteHuey (the embedded
default), ``memory://`` MemoryHuey (tests run tasks inline with ``immediate``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from collections.abc import Callable

from flask import Flask, current_app, has_app_context
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey

_DEFAULT = "sqlite:///" + str(Path(os.environ.get("INSTANCE_DIR") or
                                   Path(__file__).resolve().parents[2] / "instance") / "huey.db")


def build_huey(url: str, name: str = "hospital") -> Huey:
    """A Huey instance for ``url``; results are not stored (the truth is in the database)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=url, store_none=False, results=False)
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=path, results=False)
    if url.startswith("memory://"):
        return MemoryHuey(name, results=False)
    raise ValueError(f"HUEY_URL/REDIS_URL not understood: {url!r} (use redis://, sqlite:/// or memory://)")


huey = build_huey(os.environ.get("HUEY_URL") or os.environ.get("REDIS_URL") or _DEFAULT)

_bound: dict[str, Flask] = {}


def _install_hooks() -> None:
    from app.operations.queue import install

    install(huey)


_install_hooks()


def bind_app(app: Flask) -> None:
    """Remember the app tasks run inside (one per process; a consumer builds it in run.py)."""
    _bound["app"] = app


def app_context_task(fn: Callable) -> Callable:
    """Run a task body inside the platform's app context (reusing the caller's if there is one),
    under the request id of the request that enqueued it (``app.operations.logs``)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from app.operations import queue

        with queue.running(fn.__name__, kwargs.pop(queue.TASK_KWARG, None)):
            if has_app_context():
                return fn(*args, **kwargs)
            app = _bound.get("app")
            if app is None:
                from app import create_app

                app = create_app()
            with app.app_context():
                return fn(*args, **kwargs)

    return wrapper


def current_huey() -> Huey:
    return current_app.extensions.get("huey", huey) if has_app_context() else huey


# Import every task module so the consumer registers them.
from app.tasks import billing, booking, exports, maintenance, messages, outbox, payments, queries  # noqa: E402,F401
from app.tasks import mothers  # noqa: E402,F401  (for mothers and children, issue 17)
from app.tasks import reports  # noqa: E402,F401  (daily rollups, issue 16)
