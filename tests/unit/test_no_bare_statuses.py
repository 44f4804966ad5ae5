"""No status is compared to (or set from) a bare string: each table's statuses are a StrEnum beside it
(the package's ``states.py``, or beside the model or the HIS's plain data), so a typo is a NameError at
import, not a silently empty query, and ``grep PaymentStatus.PAID`` finds every reader.

Scanned: every Python file under ``app/`` and ``h5/``. A comparison (``==``, ``!=``, ``in``, ``not in``) of a
name or attribute ending in ``status`` with a string literal (or a tuple, list or set of them), a
``.status.in_(...)`` with string literals, a ``status="..."`` keyword argument and an assignment
(``row.status = "..."``, or within a tuple assignment) all fail. Allowed: the
channel adapters, which speak WeChat's and Alipay's own answer codes ("SUCCESS", "REFUND_SUCCESS"), and a
JSON answer's ``jsonify(status="ok")``. The Jinja templates under ``app/templates`` and ``h5/templates`` are
scanned too: they compare with the enums ``create_app`` makes template globals (``app.status_enums``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the channels' protocol: their answer codes are the channel's words, not our tables' statuses
ALLOWED_FILES = {"app/channels/wechat/pay.py", "app/channels/alipay/pay.py"}
#: calls whose ``status=`` is an HTTP/JSON answer, not a row's state
JSON_CALLS = {"jsonify"}


def _is_status(node: ast.AST) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name == "status" or name.endswith("_status")


def _strings(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return bool(node.elts) and any(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def bare_statuses(source: str) -> list[int]:
    """Line numbers where a status meets a string literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_status(s) for s in sides) and any(_strings(s) for s in sides):
                found.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in ("in_", "not_in") and _is_status(func.value)
                    and any(_strings(a) for a in node.args)):
                found.append(node.lineno)
            if _call_name(node) not in JSON_CALLS:
                found += [k.value.lineno for k in node.keywords
                          if k.arg and (k.arg == "status" or k.arg.endswith("_status")) and _strings(k.value)]
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts, strict=False) if isinstance(target, ast.Tuple)
                         and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                found += [node.lineno for t, v in pairs if _is_status(t) and _strings(v)]
    return sorted(found)


#: in a template: ``x.status == 'paid'``, ``x.status != "paid"``, ``x.status in ('paid', ...)``
TEMPLATE_BARE = re.compile(r"""\bstatus\s*(?:==|!=)\s*['"]|\bstatus\s+(?:not\s+)?in\s*[(\[]\s*['"]""")


def test_the_scan_sees_each_form_and_spares_enums_and_json():
    source = '''
a = x.status == "paid"
b = "paid" != x.status
c = x.status in ("paid", "confirmed")
d = Order.status.in_(("paid",))
e = Order(status="paid")
f = status == "called"
g = t.to_status in {"failed"}
h = x.status == P.PAID and x.status in (P.PAID, P.CONFIRMED) and Order.status.in_(REFUNDABLE)
i = jsonify(status="ok")
j = refused.status in (403, 404)
row.status = "ended"
run.status, run.progress = "done", 100
row.status, row.progress = P.PAID, 100
'''
    assert bare_statuses(source) == [2, 3, 4, 5, 6, 7, 8, 12, 13]


def test_no_status_is_a_bare_string_in_app_or_h5():
    offenders = []
    for folder in ("app", "h5"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED_FILES:
                continue
            offenders += [f"{rel}:{line}" for line in bare_statuses(path.read_text(encoding="utf-8"))]
    assert offenders == [], ("compare statuses with the table's StrEnum (its package's states.py), not a "
                             "string:\n" + "\n".join(offenders))


def test_the_template_scan_sees_each_form_and_spares_enums():
    bare = ["{% if order.status == 'booked' %}", '{% if job.status != "done" %}', "{% if p.status in ('paid', 'x') %}",
            "{% if p.status not in ['paid'] %}"]
    fine = ["{% if order.status == AppointmentStatus.BOOKED %}", '<td data-status="{{ job.status }}">',
            "{% if p.status in (PaymentStatus.PAID, PaymentStatus.CONFIRMED) %}"]
    assert [bool(TEMPLATE_BARE.search(t)) for t in bare + fine] == [True] * len(bare) + [False] * len(fine)


def test_no_status_is_a_bare_string_in_a_template():
    offenders = []
    for folder in ("app/templates", "h5/templates"):
        for path in sorted((ROOT / folder).rglob("*.html")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if TEMPLATE_BARE.search(line):
                    offenders.append(f"{path.relative_to(ROOT).as_posix()}:{number}")
    assert offenders == [], "compare with the StrEnum (a template global, app.status_enums):\n" + "\n".join(offenders)


def test_the_templates_see_every_status_enum(app):
    from app import status_enums

    assert status_enums().items() <= app.jinja_env.globals.items()
