"""Who moved an order, as staff read it on 订单全链路 and the orders' pages: every job the platform records
as ``system:<job>`` has a Chinese name, a channel is named (支付渠道 微信), and the two pages say the same.

订单全链路 showed "系统 payment", "系统 his" and "支付渠道 wechat"."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

from app.backoffice.orders import actor_label

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _system_jobs() -> set[str]:
    jobs = set()
    for path in [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("h5").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found = re.fullmatch(r"system:([a-z_]+)", node.value)
                if found:
                    jobs.add(found.group(1))
    return jobs


def test_the_scan_finds_the_jobs():
    assert {"payment", "his", "waitlist", "attendance", "refund"} <= _system_jobs()


@pytest.mark.parametrize("job", sorted(_system_jobs()))
def test_every_job_reads_in_chinese(app, job):
    with app.test_request_context():
        shown = actor_label(f"system:{job}")
    assert shown.startswith("系统（") and not re.search(r"[A-Za-z]{3,}", shown.replace("HIS", "")), shown


def test_people_channels_and_the_trace_agree(app):
    from app.admin.display import actor_label as list_label
    from app.backoffice.order_trace import _actor as trace_label

    with app.test_request_context():
        for actor, shown in (("channel:wechat", "支付渠道 微信"), ("channel:alipay", "支付渠道 支付宝"),
                             ("channel", "支付渠道"), ("patient:12", "患者账号 12"),
                             ("staff:finance", "工作人员 finance"),
                             ("system:his", "系统（医院答复）"), ("his", "医院 HIS"), ("", "")):
            assert actor_label(actor) == list_label(actor) == trace_label(actor) == shown, actor


def test_every_outbox_kind_and_state_on_the_trace_reads_in_chinese(app):
    """订单全链路 showed "待执行任务：payment.confirm_at_his · 状态 done"."""
    from app import outbox
    from app.backoffice.order_trace import OUTBOX_KINDS, OUTBOX_STATES

    with app.test_request_context():
        assert outbox._HANDLERS, "create_app registers the kinds"
        for kind in outbox._HANDLERS:
            assert re.search(r"[\u4e00-\u9fff]", str(OUTBOX_KINDS.get(kind, ""))), kind
        for state in outbox.OutboxStatus:
            assert re.search(r"[\u4e00-\u9fff]", str(OUTBOX_STATES.get(state, ""))), state
