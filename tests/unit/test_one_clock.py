"""One clock for the whole platform: time comes only from app/clock.py, which tests set.

The scan fails on a new ``datetime.now()``, ``utcnow()``, ``date.today()`` or 8-hour arithmetic outside
the clock, and on time arithmetic in a template (templates format times with the ``beijing`` filter):
each of them was a time bomb once (pages in UTC, a day's bounds off by 8 hours, a test failing on
2026-12-01 only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOCK = ROOT / "app" / "clock.py"
FORBIDDEN_IN_CODE = {
    "datetime.now() / datetime.today()": re.compile(r"\bdatetime\.(now|today)\("),
    "datetime.utcnow()": re.compile(r"\bdatetime\.utcnow\("),
    "date.today()": re.compile(r"\bdate\.today\("),
    "8 hours added or taken by hand": re.compile(r"hours\s*=\s*-?8\b|[+-]\s*8 hours|INTERVAL 8 HOUR"),
    "a timezone made by hand": re.compile(r"\btimezone\(\s*(dt\.)?timedelta\("),
}
FORBIDDEN_IN_TEMPLATES = {
    "time arithmetic in a template": re.compile(r"timedelta|\+\s*[\w.]*beijing\b|\b(at|_at)\s*[+-]\s*\w",
                                                re.IGNORECASE),
}


def _sources(*folders: str, suffix: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob(f"*{suffix}") if p != CLOCK)


def _hits(paths: list[Path], patterns: dict[str, re.Pattern[str]]) -> list[str]:
    found = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in patterns.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    return found


def test_no_time_is_read_or_converted_outside_the_clock():
    code = _sources("app", "h5", "doubles", "scripts", "bench", suffix=".py") + [ROOT / "run.py", ROOT / "config.py"]
    assert _hits(code, FORBIDDEN_IN_CODE) == []


def test_tests_read_time_only_from_the_clock():
    """A test that takes "today" from the machine passes or fails by the day it is run (CI runs under faketime)."""
    tests = [p for p in _sources("tests", suffix=".py") if p != Path(__file__).resolve()]
    assert _hits(tests, FORBIDDEN_IN_CODE) == []


def test_templates_do_no_arithmetic_on_times():
    assert _hits(_sources("app", "h5", "doubles", suffix=".html"), FORBIDDEN_IN_TEMPLATES) == []


@pytest.mark.parametrize("line", [
    "now = datetime.now(UTC)", "x = dt.datetime.utcnow()", "d = dt.date.today()",
    "t = at + dt.timedelta(hours=8)", "func.date(column, '+8 hours')", "tz = timezone(timedelta(hours=8))",
])
def test_the_scan_sees_each_forbidden_form(line):
    assert any(pattern.search(line) for pattern in FORBIDDEN_IN_CODE.values()), line


def test_the_scan_sees_arithmetic_in_a_template():
    for line in ("{{ (order.attended_at + beijing).strftime('%H:%M') }}",
                 '{{ (t.at + labels.BEIJING).strftime("%Y-%m-%d %H:%M:%S") }}'):
        assert any(p.search(line) for p in FORBIDDEN_IN_TEMPLATES.values()), line
