"""Test modules are leaves: shared helpers live in helper modules (tests/helpers/) and shared fixtures in
the conftest.py of the narrowest directory that covers their users.

A fixture imported from a test module is registered again wherever it lands (hence the ``noqa: F401/F811``
that used to mark it), and a test file's private helpers become an API nobody can see is shared. So no
file under ``tests/`` imports a module whose name starts with ``test_``; this test names each that does."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


def imports_of_test_modules(source: str, filename: str = "<string>") -> list[tuple[int, str]]:
    """(line, module) for every import of a test module in ``source``: ``import a.test_b``,
    ``from a.test_b import c`` and ``from a import test_b`` (relative forms included)."""
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if _is_test_module(alias.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if node.module and _is_test_module(node.module):
                found.append((node.lineno, module))
            else:  # ``from package import test_module``
                prefix = module if module.endswith(".") else module + "."
                found += [(node.lineno, prefix + alias.name) for alias in node.names
                          if alias.name.startswith("test_")]
    return sorted(found)


def test_the_checker_sees_every_form_of_import():
    source = ("import tests.functional.test_booking\n"
              "from tests.functional.test_bills import load\n"
              "from tests.functional import test_booking\n"
              "from .test_payments import kind\n"
              "from . import test_waitlist\n"
              "def f():\n"
              "    from tests.browser.test_backoffice_browser import sign_in\n"
              "from tests import factories\n"
              "import tests.factories\n"
              "from tests.helpers.booking import book\n")
    assert imports_of_test_modules(source) == [
        (1, "tests.functional.test_booking"), (2, "tests.functional.test_bills"),
        (3, "tests.functional.test_booking"), (4, ".test_payments"), (5, ".test_waitlist"),
        (7, "tests.browser.test_backoffice_browser")]


def test_no_file_under_tests_imports_a_test_module():
    offenders = [f"{path.relative_to(TESTS.parent)}:{line}: imports {module}"
                 for path in sorted(TESTS.rglob("*.py"))
                 for line, module in imports_of_test_modules(path.read_text(encoding="utf-8"), str(path))]
    assert not offenders, ("move shared helpers to a helper module and shared fixtures to a conftest.py:\n"
                           + "\n".join(offenders))
