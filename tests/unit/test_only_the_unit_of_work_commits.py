"""Only the unit of work commits (issue 18): a service, view, task or CLI command that commits by itself
can split one use case into halves that another process sees apart, or commit what a caller meant to roll
back. Everything else runs inside ``unit_of_work`` / ``transaction`` (app/services/uow.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UOW = ROOT / "app" / "services" / "uow.py"


def _commits(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit"
            and not node.args and not node.keywords]


def test_nothing_but_the_unit_of_work_commits():
    found = [f"{p.relative_to(ROOT)}:{line}" for folder in ("app", "h5") for p in sorted((ROOT / folder).rglob("*.py"))
             if p != UOW for line in _commits(p)]
    assert found == []


def test_the_scan_sees_a_commit(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(db):\n    db.session.commit()\n", encoding="utf-8")
    assert _commits(sample) == [2]


def _session_savepoints(path: Path) -> list[int]:
    """``db.session.begin_nested()`` calls: on SQLite one sent as a unit's first write commits on its own."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "begin_nested" and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "session"]


def test_savepoints_of_the_session_go_through_the_unit_of_work():
    found = [f"{p.relative_to(ROOT)}:{line}" for folder in ("app", "h5") for p in sorted((ROOT / folder).rglob("*.py"))
             if p != UOW for line in _session_savepoints(p)]
    assert found == [], "use app.services.uow.savepoint()"


def test_the_scan_sees_a_savepoint(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(db):\n    with db.session.begin_nested():\n        pass\n", encoding="utf-8")
    assert _session_savepoints(sample) == [2]
