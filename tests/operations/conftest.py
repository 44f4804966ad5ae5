"""Fixtures for the operations tests: a capture of the JSON log lines (``world`` is in tests/conftest.py)."""

from __future__ import annotations

import io
import json
import logging

import pytest


class JsonLines:
    """Every log line written while the fixture is active, as the platform writes it (JSON)."""

    def __init__(self) -> None:
        from app.operations.logs import HospitalJsonFormatter

        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(HospitalJsonFormatter(json_ensure_ascii=False))
        self.handler.setLevel(logging.DEBUG)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture()
def json_logs():
    captured = JsonLines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(captured.handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(captured.handler)
    root.setLevel(old_level)
