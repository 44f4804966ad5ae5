"""Why an order moved, as staff read it on 订单全链路, the order's detail and 退费记录.

The commands record a short English reason with every state move ("channel reports paid", "refunds
settled", "paid DEMO…"); staff saw them as they were. Every reason a command writes has a Chinese
label; a new one without a label fails here (the scan reads every ``reason=``/``failure_reason=``
the code passes), and what staff typed themselves is shown as typed."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from app.backoffice.orders import reason_label

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: keyword arguments named reason that are not why an order moved
NOT_ORDER_REASONS = {"current_password"}


def _literals(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):  # f"paid {payment.order_no}" -> "paid X123"
        yield "".join(v.value if isinstance(v, ast.Constant) else "X123" for v in node.values)
    elif isinstance(node, ast.IfExp):
        yield from _literals(node.body)
        yield from _literals(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _literals(value)


def _reasons_in_code() -> set[str]:
    found = set()
    for path in [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("h5").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in ("reason", "failure_reason"):
                        found.update(_literals(keyword.value))
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "_refund_failed" and len(node.args) > 1:
                    found.update(_literals(node.args[1]))
    return found - NOT_ORDER_REASONS


def test_the_scan_finds_the_reasons_the_commands_write():
    reasons = _reasons_in_code()
    assert {"channel reports paid", "refunds settled", "paid X123", "channel notification: closed"} <= reasons


@pytest.mark.parametrize("reason", sorted(_reasons_in_code()))
def test_every_reason_a_command_writes_reads_in_chinese(app, reason):
    with app.test_request_context():
        shown = reason_label(reason)
    assert re.search(r"[\u4e00-\u9fff]", shown), f"{reason!r} is shown to staff as {shown!r}"
    words = re.sub(r"X123|HIS|ABNORMAL", "", shown)
    assert not re.search(r"[A-Za-z]{3,}", words), f"{reason!r} is shown to staff as {shown!r}"


def test_numbers_and_the_channels_own_words_are_kept(app):
    with app.test_request_context():
        assert reason_label("paid MZ2026120100012") == "缴费订单 MZ2026120100012 已支付"
        assert reason_label("order booked") == "预约订单：已预约"
        assert reason_label("unpaid past deadline (channel: closed)") == "超时未支付（渠道：已关闭）"
        assert reason_label("HIS confirm refused: 号源已满") == "医院拒绝确认：号源已满"
        assert reason_label("NOTENOUGH: 余额不足") == "NOTENOUGH: 余额不足"  # the channel's own answer


def test_what_staff_typed_is_shown_as_typed(app):
    with app.test_request_context():
        assert reason_label("患者来电要求取消") == "患者来电要求取消"
        assert reason_label(None) == ""
        assert reason_label("") == ""


def test_the_booking_kind_a_hold_records_reads_in_chinese(app):
    """hold_slot records the registration kind as the reason of the order's first move (a variable, which
    the scan above cannot read): 订单全链路 showed "advance"."""
    with app.test_request_context():
        assert reason_label("advance") == "预约挂号"
        assert reason_label("same_day") == "当天挂号"
