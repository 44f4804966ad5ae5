"""The task queue builds from its URL; on CI the Redis backend really stores and runs a task."""

from __future__ import annotations

import os

import pytest
from huey import MemoryHuey, RedisHuey, SqliteHuey

from app.tasks import build_huey


def test_queue_backends_from_url(tmp_path):
    assert isinstance(build_huey("memory://"), MemoryHuey)
    assert isinstance(build_huey(f"sqlite:///{tmp_path}/q.db"), SqliteHuey)
    assert isinstance(build_huey("redis://127.0.0.1:6379/0"), RedisHuey)
    with pytest.raises(ValueError):
        build_huey("ftp://nope")


def _roundtrip(queue):
    @queue.task()
    def add(a, b):
        return a + b

    queue.flush()
    add(2, 3)
    assert queue.pending_count() == 1
    task = queue.dequeue()
    assert queue.execute(task) == 5


def test_sqlite_queue_round_trip(tmp_path):
    _roundtrip(build_huey(f"sqlite:///{tmp_path}/q.db", name="t-sqlite"))


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="Redis runs on CI (TEST_REDIS_URL)")
def test_redis_queue_round_trip():
    _roundtrip(build_huey(os.environ["TEST_REDIS_URL"], name="t-redis"))
