"""Registration, the timetable and the waitlist commit only through the unit of work (app/services/uow.py),
and the waitlist reaches the worker only through outbox rows (issue 18, items 2 and 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWNED = sorted([*ROOT.glob("app/registration/*.py"), *ROOT.glob("app/waitlist/*.py")])  # schedules.py among them


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.func.attr for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


@pytest.mark.parametrize("path", OWNED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_commit_or_rollback_outside_the_unit_of_work(path):
    assert not _calls(path) & {"commit", "rollback"}, f"{path.name}: use unit_of_work / transaction"


def test_the_waitlist_never_imports_the_tasks():
    for path in ROOT.glob("app/waitlist/*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m and m.startswith("app.tasks")}, path.name
