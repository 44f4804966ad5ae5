"""Back-office over HTTP: each role reaches only its own menus and actions (direct URLs included),
orders are searched with masked data and audited, cancel needs a reason, exports download, operators
reset passwords with a forced change, configuration is validated and audited."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentOrder, AuditLog, ChannelUser, ExportJob, PaymentOrder, SystemSetting
from tests.backoffice_helpers import login, seed_staff_and_orders

# Every back-office page of issue #8 and who may open it.
PAGES = {
    "/appointmentorderview/list/": {"admin", "finance", "service"},
    "/paymentorderview/list/": {"admin", "finance", "service"},
    "/refundview/list/": {"admin", "finance"},
    "/patientview/list/": {"admin", "service"},
    "/statistics/": {"admin", "finance"},
    "/exportjobview/list/": {"admin", "finance"},
    "/systemsettingview/list/": {"admin", "ops"},
    "/messagetemplateview/list/": {"admin", "ops"},
    "/guidanceruleview/list/": {"admin", "ops"},
    "/surveyview/list/": {"admin", "ops"},
    "/serviceinstructionview/list/": {"admin", "ops"},
    "/auditlogview/list/": {"admin", "ops"},
    "/operatorview/list/": {"admin"},
    "/users/list/": {"admin"},
    "/roles/list/": {"admin"},
}
MENUS = {
    "admin": {"预约订单", "缴费订单", "退费记录", "就诊人", "交易统计", "报表下载", "系统设置", "消息模板", "导诊规则",
              "满意度调查", "服务说明", "审计日志", "操作员"},
    "finance": {"预约订单", "缴费订单", "退费记录", "交易统计", "报表下载"},
    "ops": {"系统设置", "消息模板", "导诊规则", "满意度调查", "服务说明", "审计日志"},
    "service": {"预约订单", "缴费订单", "就诊人"},
}
ALL_MENUS = set().union(*MENUS.values())


@pytest.fixture()
def staff(app, clean_db):
    seed_staff_and_orders(app)
    with app.app_context():
        order = db.session.query(AppointmentOrder).filter_by(status="booked").first()
        payment = db.session.query(PaymentOrder).filter(PaymentOrder.refunded_fen > 0).first()
        return {"order": order.id, "payment": payment.id}


def _audit(app, action: str) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.query(AuditLog).filter_by(action=action).order_by(AuditLog.id).all()
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize("username", ["admin", "finance", "ops", "service"])
def test_each_role_reaches_only_its_own_pages_and_menus(app, client, staff, username):
    login(client, username)
    home = client.get("/").get_data(as_text=True)
    for menu in ALL_MENUS:
        assert (f">{menu}<" in home or f"> {menu}" in home or menu in home) == (menu in MENUS[username]), \
            (username, menu)
    for url, allowed in PAGES.items():
        status = client.get(url).status_code
        if username in allowed:
            assert status == 200, (username, url, status)
        else:
            assert status in (302, 403), (username, url, status)


@pytest.mark.parametrize(("username", "can_cancel", "can_export"), [
    ("admin", True, True), ("finance", False, True), ("ops", False, False), ("service", True, False),
])
def test_actions_per_role_including_direct_posts(app, client, staff, username, can_cancel, can_export):
    login(client, username)
    cancel = client.get(f"/appointmentorderview/cancel/{staff['order']}")
    assert (cancel.status_code == 200) == can_cancel
    # the demo's booked order is of a day already over: the cancel form asks for the extra confirmation
    post = client.post(f"/appointmentorderview/cancel/{staff['order']}",
                       data={"reason": "患者来电要求取消", "confirm_over": "y"})
    if not can_cancel:
        assert post.status_code in (302, 403)  # refused (the order stays booked, checked below)
    action = client.post("/appointmentorderview/action_post", data={"action": "cancel_order",
                                                                     "rowid": [str(staff["order"])]})
    assert ("/cancel/" in action.headers.get("Location", "")) == can_cancel
    export = client.post("/paymentorderview/export/")
    assert ("/exportjobview/show/" in export.headers.get("Location", "")) == can_export
    stats_export = client.post("/statistics/export?start=2026-01-01&end=2026-01-31")
    assert ("/exportjobview/show/" in stats_export.headers.get("Location", "")) == can_export
    with app.app_context():  # only a role with the cancel action changed the booking
        assert (db.session.get(AppointmentOrder, staff["order"]).status != "booked") == can_cancel


def test_lists_mask_personal_data_and_search_by_card_phone_and_name_is_audited(app, client, staff):
    login(client, "service")
    page = client.get("/appointmentorderview/list/").get_data(as_text=True)
    assert "陈丽华" not in page and "欧阳娜娜" not in page and "13800000" not in page
    assert "陈*华" in page or "欧**娜" in page or "王*" in page
    hits = client.get("/appointmentorderview/list/?_flt_0_card_no=DEMO100001").get_data(as_text=True)
    with app.app_context():
        expected = {o.order_no for o in db.session.query(AppointmentOrder).join(AppointmentOrder.patient)
                    .filter_by(card_no="DEMO100001")}
        others = {o.order_no for o in db.session.query(AppointmentOrder)} - expected
    assert all(no in hits for no in expected) and not any(no in hits for no in others)
    client.get("/paymentorderview/list/?_flt_0_phone=13800000003")
    client.get("/patientview/list/?_flt_0_name=王芳")
    rows = _audit(app, "staff.search_personal")
    assert len(rows) == 3 and all(r.actor_name == "service" and r.ip for r in rows)
    assert "138****0003" in rows[1].detail and "13800000003" not in rows[1].detail
    assert "王*" in rows[2].detail and "王芳" not in rows[2].detail


def test_order_detail_shows_history_refunds_and_is_audited(app, client, staff):
    login(client, "finance")
    page = client.get(f"/paymentorderview/show/{staff['payment']}").get_data(as_text=True)
    assert 'data-test="history"' in page and "退费中" in page and 'data-test="refunds"' in page
    assert "退款成功" in page
    history = page.split('data-test="history"')[1]  # states as staff read them, the code kept for the logs
    assert '<td data-code="refunding">退费中</td>' in history and "<td>缴费订单</td>" in history
    assert ">refunding<" not in history
    order = client.get(f"/appointmentorderview/show/{staff['order']}").get_data(as_text=True)
    assert 'data-code="pending_payment"' in order and "已预约" in order and 'data-test="cancel-booking"' not in order
    assert len(_audit(app, "staff.view_order")) == 2


def test_cancel_requires_a_reason(app, client, staff):
    login(client, "service")
    page = client.get(f"/appointmentorderview/show/{staff['order']}").get_data(as_text=True)
    assert 'data-test="cancel-booking"' in page
    empty = client.post(f"/appointmentorderview/cancel/{staff['order']}", data={"reason": "  "})
    assert empty.status_code == 200 and "请填写取消原因" in empty.get_data(as_text=True)
    short = client.post(f"/appointmentorderview/cancel/{staff['order']}", data={"reason": "x"})
    assert "取消原因为 2 到 255 个字" in short.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(AppointmentOrder, staff["order"]).status == "booked"


def test_finance_exports_the_filtered_list_and_downloads_it(app, client, staff):
    from io import BytesIO

    from openpyxl import load_workbook

    login(client, "finance")
    response = client.post("/paymentorderview/export/?_flt_0_kind=deposit&_flt_0_channel=wechat")
    job_url = response.headers["Location"]
    job_id = int(job_url.rstrip("/").split("/")[-1])
    progress = client.get(f"/exportjobview/progress/{job_id}").get_json()
    assert progress["status"] == "done" and progress["progress"] == 100 and progress["download"]
    download = client.get(progress["download"])
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    rows = list(load_workbook(BytesIO(download.data), read_only=True).active.iter_rows(values_only=True))
    with app.app_context():
        expected = db.session.query(PaymentOrder).filter_by(kind="deposit", channel="wechat").count()
        params = json.loads(db.session.get(ExportJob, job_id).params_json)
    assert params == {"channel": "wechat", "kind": "deposit"}
    assert len(rows) == expected + 2 and all(r[1] == "住院押金" and r[6] == "微信" for r in rows[1:-1])
    assert len(_audit(app, "staff.export_download")) == 1
    # another operator cannot see or download this job
    login(client, "admin")
    assert client.get(f"/exportjobview/download/{job_id}").status_code == 404


def test_reset_password_forces_a_change_before_anything_else(app, client, staff, staff_restored):
    with app.app_context():
        ops_id = app.appbuilder.sm.find_user(username="ops").id
    login(client, "admin")
    response = client.post("/operatorview/action_post", data={"action": "reset_password", "rowid": [str(ops_id)]},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    import re

    temporary = re.search(r'data-test="temp-password">([^<]+)<', page).group(1)
    login(client, "ops", temporary)
    blocked = client.get("/auditlogview/list/")
    assert blocked.status_code == 302 and "/resetmypassword/form" in blocked.headers["Location"]
    client.post("/resetmypassword/form", data={"current_password": temporary, "password": "Night-shift-2026",
                                               "conf_password": "Night-shift-2026"})
    assert client.get("/auditlogview/list/").status_code == 200
    login(client, "ops", "Night-shift-2026")
    assert client.get("/systemsettingview/list/").status_code == 200
    actions = [r.action for r in _audit(app, "staff.operator_reset_password") + _audit(app, "staff.password_changed")]
    assert actions == ["staff.operator_reset_password", "staff.password_changed"]


def test_operator_list_search_edit_and_deactivate(app, client, staff, staff_restored):
    with app.app_context():
        sm = app.appbuilder.sm
        finance = sm.find_user(username="finance")
        finance_id, role_ids = finance.id, [r.id for r in finance.roles]
    login(client, "admin")
    edit = client.post(f"/operatorview/edit/{finance_id}", data={
        "first_name": "财务", "last_name": "Finance", "email": "finance@demo.hospital.local",
        "department": "财务科", "roles": [str(i) for i in role_ids], "active": "y"})
    assert edit.status_code == 302
    listing = client.get("/operatorview/list/?_flt_0_department=财务").get_data(as_text=True)
    assert "财务科" in listing and ">finance<" in listing.replace(" ", "") or "finance" in listing
    assert "service@" not in listing
    by_role = client.get("/operatorview/list/?_flt_0_roles=Service desk").get_data(as_text=True)
    assert "service" in by_role and "finance@" not in by_role
    client.post("/operatorview/action_post", data={"action": "deactivate", "rowid": [str(finance_id)]})
    client.get("/logout/")
    refused = client.post("/login/", data={"username": "finance", "password": "finance123"})
    assert "/login" in refused.headers.get("Location", "/login/")
    assert client.get("/statistics/").status_code == 302
    assert len(_audit(app, "staff.operator_deactivate")) == 1
    dept = _audit(app, "staff.operator_department")
    assert len(dept) == 1 and json.loads(dept[0].detail)["after"] == {"department": "财务科"}


def test_settings_are_validated_and_every_change_is_audited(app, client, staff):
    login(client, "ops")
    bad = client.post("/systemsettingview/add", data={"key": "booking.days_ahead_x_days", "value": "abc",
                                                      "description": "x"})
    assert bad.status_code == 200 and "没有这个设置项" in bad.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(SystemSetting).filter_by(key="booking.days_ahead_x_days").count() == 0
    not_a_number = client.post("/systemsettingview/add", data={"key": "security.lockout_failures", "value": "abc"})
    assert not_a_number.status_code == 200 and "应为整数" in not_a_number.get_data(as_text=True)
    good = client.post("/systemsettingview/add", data={"key": "security.lockout_failures", "value": " 6 ",
                                                       "description": ""})
    assert good.status_code == 302
    with app.app_context():
        setting = db.session.query(SystemSetting).filter_by(key="security.lockout_failures").one()
        assert setting.value == "6" and setting.updated_by == "ops"
        assert setting.description == "连续输错密码多少次锁定账号"  # the registry's label when none is typed
        window = db.session.query(SystemSetting).filter_by(key="booking.days_ahead").one().id
    refused = client.post(f"/systemsettingview/edit/{window}", data={"value": "99", "description": "可预约天数"},
                          follow_redirects=True)
    assert "应在 1 到 60 之间" in refused.get_data(as_text=True)
    client.post(f"/systemsettingview/edit/{window}", data={"value": "10", "description": "可预约天数"})
    with app.app_context():
        assert db.session.get(SystemSetting, window).value == "10"
    added, edited = _audit(app, "staff.setting_add"), _audit(app, "staff.setting_edit")
    assert len(added) == 1 and len(edited) == 1
    assert json.loads(edited[0].detail)["before"]["value"] == "7"  # the demo seed's booking window
    assert json.loads(edited[0].detail)["after"]["value"] == "10" and edited[0].ip
    bad_template = client.post("/messagetemplateview/add", data={
        "kind": "booking_success", "channel": "wechat", "template_id": "TPL1", "field_map_json": "not json",
        "is_active": "y"})
    assert "字段映射应为 JSON 对象" in bad_template.get_data(as_text=True)
    bad_rule = client.post("/guidanceruleview/add", data={"match_category": "", "match_keyword": "",
                                                          "guidance": "请到药房取药", "sort": "1"})
    assert "请至少填写项目类别或关键字之一" in bad_rule.get_data(as_text=True)


def test_audit_log_cannot_be_edited_or_deleted(app, client, staff):
    login(client, "admin")
    client.get(f"/appointmentorderview/show/{staff['order']}")
    row = _audit(app, "staff.view_order")[0]
    for url in (f"/auditlogview/edit/{row.id}", f"/auditlogview/delete/{row.id}", "/auditlogview/add"):
        # even the administrator: the permission does not exist (FAB answers 403/404)
        assert client.get(url).status_code in (403, 404), url
        assert client.post(url, data={"action": "x"}).status_code in (403, 404, 405), url
    with app.app_context():
        assert db.session.get(AuditLog, row.id) is not None
    page = client.get("/auditlogview/list/?_flt_0_action=staff.view_order").get_data(as_text=True)
    assert "staff.view_order" in page


def test_empty_fields_are_blank_not_none(app, client, staff):
    """Flask-AppBuilder prints a missing value as "None"; staff see a dash on details, an empty cell in lists."""
    login(client, "admin")
    pages = [f"/appointmentorderview/show/{staff['order']}", f"/paymentorderview/show/{staff['payment']}",
             "/appointmentorderview/list/", "/paymentorderview/list/", "/refundview/list/", "/patientview/list/",
             "/auditlogview/list/", "/operatorview/list/", "/systemsettingview/list/"]
    for path in pages:
        response = client.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert not re.search(r">\s*None\s*<", page), path


def test_the_sandbox_sign_in_does_not_offer_the_demo_months_accounts(app, staff):
    from app.identity.sign_in import sandbox_accounts

    with app.app_context():
        offered = [a.channel_uid for channel in ("wechat", "alipay") for a in sandbox_accounts(channel, limit=500)]
        demo_month = db.session.scalars(select(ChannelUser.channel_uid).where(
            ChannelUser.channel_uid.like("demo-bo-%"))).all()
    assert demo_month and not set(offered) & set(demo_month)
