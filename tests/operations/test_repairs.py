"""数据维护: a correction is proposed by one Admin with a reason, applied only when another Admin approves
it, only along edges the state machines allow, guarded on the value the proposer saw, and audited."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.models import AppointmentOrder, AuditLog, Patient, ScheduleSlice, StateTransition
from app.operations import commands
from app.operations.models import RepairRequest
from app.operations.states import REPAIR, RepairStatus
from app.services import states
from app.services.errors import Conflict, DomainError
from tests.backoffice_helpers import login as staff_login
from tests.helpers.repairs import ADMINS, admins


def row(app, model, pk):
    with app.app_context():
        found = db.session.get(model, pk)
        db.session.expunge(found)
        return found


def test_the_repair_table_has_one_open_state_and_every_other_is_final():
    assert {s for s, nxt in REPAIR.items() if nxt} == {RepairStatus.PROPOSED}
    assert REPAIR[RepairStatus.PROPOSED] == {RepairStatus.APPLIED, RepairStatus.FAILED, RepairStatus.REJECTED,
                                             RepairStatus.WITHDRAWN}


def test_a_phone_correction_needs_a_second_admin_and_is_audited(app, world, booked):
    maker, checker = admins(app)
    with app.app_context():
        old_phone = db.session.get(Patient, world["mother"]).phone
        request = commands.propose(maker, booked["order_no"], "contact", "13912340000", "患者来电，手机号登记错一位")
        rid = request.id
        assert db.session.get(Patient, world["mother"]).phone == old_phone  # nothing changes on proposal
        with pytest.raises(DomainError) as own:
            commands.approve(maker, rid)
        assert own.value.status == 403 and "另一位管理员" in own.value.message
        assert db.session.get(RepairRequest, rid).status == "proposed"
        done = commands.approve(checker, rid, "已核对身份证")
        assert done.status == "applied" and done.decided_by == checker.username
        assert db.session.get(Patient, world["mother"]).phone == "13912340000"
        trail = db.session.scalars(select(AuditLog).where(AuditLog.action.like("repair.%")).order_by(AuditLog.id)).all()
        assert [(a.action, a.actor_name) for a in trail] == [("repair.propose", "admin"), ("repair.apply", "itlead")]
        detail = json.loads(trail[1].detail)
        assert detail["before"] == {"phone": old_phone[:3] + "****" + old_phone[-4:]}
        assert detail["after"] == {"phone": "139****0000"} and detail["proposed_by"] == "admin"
        assert "13912340000" not in trail[0].detail  # phones masked in the audit detail
        with pytest.raises(Conflict):
            commands.approve(checker, rid)  # applied once, never twice


def test_the_four_eyes_rule_is_also_in_the_database(app, world, booked):
    maker, _checker = admins(app)
    with app.app_context():
        rid = commands.propose(maker, booked["order_no"], "contact", "13912340001", "手机号填错").id
        with pytest.raises((IntegrityError, OperationalError)):
            db.session.execute(update(RepairRequest).where(RepairRequest.id == rid)
                               .values(status="applied", decided_by_id=maker.id))
            db.session.commit()
        db.session.rollback()
        assert db.session.get(RepairRequest, rid).status == "proposed"


def test_attendance_is_corrected_only_along_allowed_edges(app, world, booked):
    maker, checker = admins(app)
    with app.app_context():
        states.move("appointment", booked["id"], "booked", "no_show", actor="system:attendance")
        db.session.commit()
        rid = commands.propose(maker, booked["order_no"], "attendance", "visited", "患者已在分诊台签到，系统漏传").id
        commands.approve(checker, rid)
        order = db.session.get(AppointmentOrder, booked["id"])
        assert order.status == "visited" and order.attended_at is not None
        step = db.session.scalars(select(StateTransition).where(StateTransition.order_id == booked["id"],
                                                                StateTransition.to_status == "visited")).one()
        assert step.actor == "staff:itlead" and "admin 申请" in step.reason
        # 已就诊 -> 爽约 is not an edge of the appointment table: refused when proposed, nothing recorded
        with pytest.raises(DomainError, match="状态机不允许"):
            commands.propose(maker, booked["order_no"], "attendance", "no_show", "误标为已就诊")
        assert db.session.scalar(select(RepairRequest).where(RepairRequest.status == "proposed")) is None


def test_a_stuck_state_moves_through_the_state_machine_and_gives_the_place_back(app, world, booked):
    maker, checker = admins(app)
    with app.app_context():
        booked_before = db.session.get(ScheduleSlice, booked["slice_id"]).booked
        with pytest.raises(DomainError, match="状态机不允许"):
            commands.propose(maker, booked["order_no"], "state", "refunded", "直接改成已退款")
        rid = commands.propose(maker, booked["order_no"], "state", "cancelled", "患者已在窗口退号，平台未同步").id
        commands.approve(checker, rid)
        order = db.session.get(AppointmentOrder, booked["id"])
        assert order.status == "cancelled" and order.active_key is None
        assert db.session.get(ScheduleSlice, booked["slice_id"]).booked == booked_before - 1


def test_an_order_that_moved_on_meanwhile_is_left_alone_and_the_request_fails(app, world, booked):
    maker, checker = admins(app)
    with app.app_context():
        rid = commands.propose(maker, booked["order_no"], "state", "no_show", "HIS 漏传爽约").id
        states.move("appointment", booked["id"], "booked", "visited", actor="system:attendance")  # the feed caught up
        db.session.commit()
        done = commands.approve(checker, rid)
        assert done.status == "failed" and "不再是 booked" in done.decision_note
        assert db.session.get(AppointmentOrder, booked["id"]).status == "visited"
        assert db.session.scalar(select(AuditLog.action).where(AuditLog.action == "repair.failed")) == "repair.failed"


def test_reject_needs_a_note_and_withdraw_is_the_proposers_own(app, world, booked):
    maker, checker = admins(app)
    with app.app_context():
        rid = commands.propose(maker, booked["order_no"], "contact", "13912340002", "手机号填错").id
        with pytest.raises(DomainError, match="驳回理由"):
            commands.reject(checker, rid, "")
        with pytest.raises(DomainError) as other:
            commands.withdraw(checker, rid)
        assert other.value.status == 403
        commands.reject(checker, rid, "未核实身份")
        assert db.session.get(RepairRequest, rid).status == "rejected"
        second = commands.propose(maker, booked["order_no"], "contact", "13912340003", "手机号填错").id
        commands.withdraw(maker, second)
        assert db.session.get(RepairRequest, second).status == "withdrawn"


def test_bad_proposals_are_refused_with_a_message(app, world, booked):
    maker, _ = admins(app)
    with app.app_context():
        for order_no, kind, after, reason, message in (
                ("NOPE", "contact", "13912340000", "手机号填错", "未找到"),
                (booked["order_no"], "contact", "12345", "手机号填错", "11 位手机号"),
                (booked["order_no"], "contact", "13912340000", "", "维护原因"),
                (booked["order_no"], "sql", "x", "直接改库", "不支持")):
            with pytest.raises(DomainError, match=message):
                commands.propose(maker, order_no, kind, after, reason)
        assert db.session.scalar(select(RepairRequest.id)) is None


def test_the_back_office_tool_walks_propose_then_approve_by_another_admin(app, world, booked):
    admins(app)
    maker = app.test_client()
    staff_login(maker, "admin")
    page = maker.get(f"/repairrequestview/new/?order_no={booked['order_no']}").get_data(as_text=True)
    assert "更正就诊人手机号" in page and "处理卡住的订单状态" in page and "已预约" in page
    assert "(booked)" not in page  # states by their names, as on every other page staff read
    assert "已退款" not in page.split('id="after_state"')[1].split("</select>")[0]  # only allowed next states
    missing = maker.get("/repairrequestview/new/?order_no=NOPE").get_data(as_text=True)
    assert "未找到该订单号" in missing
    bad = maker.post("/repairrequestview/new/", data={"order_no": booked["order_no"], "kind": "contact",
                                                       "after_contact": "123", "reason": "手机号填错"})
    assert bad.status_code == 200 and "11 位手机号" in bad.get_data(as_text=True)
    made = maker.post("/repairrequestview/new/", data={"order_no": booked["order_no"], "kind": "contact",
                                                        "after_contact": "13912349999", "reason": "手机号填错一位"})
    assert made.status_code == 302
    show_url = made.headers["Location"]
    own = maker.get(show_url).get_data(as_text=True)
    assert "需另一位管理员审批" in own and 'data-test="approve"' not in own and "139****9999" in own
    assert "13912349999" not in own
    pk = int(show_url.rstrip("/").split("/")[-1])
    maker.post(f"/repairrequestview/decide/{pk}", data={"verdict": "approve"})
    assert row(app, RepairRequest, pk).status == "proposed"  # refused for the proposer

    checker = app.test_client()
    staff_login(checker, "itlead", ADMINS[1][1])
    page = checker.get(show_url).get_data(as_text=True)
    assert 'data-test="approve"' in page and "待审批" in page
    done = checker.post(f"/repairrequestview/decide/{pk}", data={"verdict": "approve", "note": "已核对"},
                        follow_redirects=True).get_data(as_text=True)
    assert "已审批通过并执行" in done and "已执行" in done
    assert row(app, Patient, world["mother"]).phone == "13912349999"
    listing = checker.get("/repairrequestview/list/").get_data(as_text=True)
    assert booked["order_no"] in listing and "已执行" in listing


def test_only_admin_reaches_the_repair_tool(app, client, world, booked):
    from tests.helpers.deposits import finance_signs_in

    finance_signs_in(app, client)
    for url in ("/repairrequestview/list/", f"/repairrequestview/new/?order_no={booked['order_no']}"):
        response = client.get(url)
        assert response.status_code in (302, 403) and "维护原因" not in response.get_data(as_text=True)
    refused = client.post("/repairrequestview/new/", data={"order_no": booked["order_no"], "kind": "contact",
                                                          "after_contact": "13912340000", "reason": "越权尝试"})
    assert refused.status_code in (302, 403)
    with app.app_context():
        assert db.session.scalar(select(RepairRequest.id)) is None


def test_the_repair_list_has_the_date_presets_of_the_other_lists(app, world, booked):
    """数据维护 offers 今天 / 昨天 / 本周 / 本月 / 上月 and a custom range on 申请时间, and each narrows the list."""
    import datetime as dt

    from app import clock

    admins(app)
    maker = app.test_client()
    staff_login(maker, "admin")
    made = maker.post("/repairrequestview/new/", data={"order_no": booked["order_no"], "kind": "contact",
                                                        "after_contact": "13912348888", "reason": "手机号填错一位"})
    assert made.status_code == 302
    page = maker.get("/repairrequestview/list/").get_data(as_text=True)
    for key in ("today", "yesterday", "this_week", "this_month", "last_month"):
        assert f'data-test="preset-{key}"' in page, key
    today = clock.today()
    shown = maker.get(f"/repairrequestview/list/?_flt_0_proposed_at={today}&_flt_1_proposed_at={today}"
                      ).get_data(as_text=True)
    assert booked["order_no"] in shown
    before = today.replace(day=1) - dt.timedelta(days=1)
    earlier = maker.get(f"/repairrequestview/list/?_flt_0_proposed_at={before.replace(day=1)}"
                        f"&_flt_1_proposed_at={before}").get_data(as_text=True)
    assert earlier.count(booked["order_no"]) == 0


def test_the_repair_list_offers_a_new_request_even_when_empty(app, world):
    """数据维护 with no request yet said only 没有找到记录: the way to start one was in the menu alone."""
    admins(app)
    maker = app.test_client()
    staff_login(maker, "admin")
    page = maker.get("/repairrequestview/list/").get_data(as_text=True)
    assert 'data-test="new-repair"' in page and 'href="/repairrequestview/new/"' in page
    assert "新建维护申请" in page
