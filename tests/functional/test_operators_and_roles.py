"""Roles and operators for hospital IT (issue 16 #6): create an operator from 操作员 (login, name, 科室,
phone, role; email optional) with messages next to the fields; roles shown in Chinese; audited by name."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, OperatorProfile
from tests.backoffice_helpers import login, restore_hospital_roles
from tests.helpers.operators import GOOD


def test_bad_input_is_said_next_to_each_field_and_nothing_is_saved(app, client, staff):
    login(client, "admin")
    form = client.get("/operatorview/create/").get_data(as_text=True)
    assert "财务" in form and "服务台" in form and "信息科运维" in form  # roles in Chinese
    page = client.post("/operatorview/create/", data={**GOOD, "username": "9x", "phone": "12345",
                                                      "role": "", "email": "not-an-email"}).get_data(as_text=True)
    errors = dict(re.findall(r'data-test="error-([a-z]+)">([^<]+)<', page))
    assert set(errors) == {"username", "phone", "role", "email"}, errors
    assert errors["phone"] == "请填写 11 位手机号"
    assert 'value="张敏"' in page and 'value="财务科"' in page  # nothing lost of what was typed
    taken = client.post("/operatorview/create/", data={**GOOD, "username": "finance"}).get_data(as_text=True)
    assert "登录名“finance”已被使用" in taken
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="zhangmin") is None


def test_admin_creates_an_operator_who_must_change_the_one_time_password(app, client, staff):
    login(client, "admin")
    done = client.post("/operatorview/create/", data=GOOD)
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    temporary = re.search(r'data-test="temp-password">([^<]+)<', page).group(1)
    assert "139****5678" in page and "13912345678" not in page  # the list masks the phone
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="zhangmin")
        assert [r.name for r in user.roles] == ["Finance"] and user.first_name == "张敏"
        profile = db.session.scalar(select(OperatorProfile).where(OperatorProfile.user_id == user.id))
        assert (profile.department, profile.phone, profile.must_change_password) == ("财务科", "13912345678", True)
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "staff.operator_add"))
        assert row.actor_name == "admin" and "zhangmin" in row.detail and "Finance" in row.detail
    login(client, "zhangmin", temporary)
    assert "/resetmypassword/form" in client.get("/paymentorderview/list/").headers["Location"]


@pytest.mark.parametrize("username", ["finance", "ops", "service"])
def test_only_the_administrator_creates_operators(app, client, staff, username):
    login(client, username)
    assert client.get("/operatorview/create/").status_code in (302, 403)
    client.post("/operatorview/create/", data=GOOD)
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="zhangmin") is None


def _matrix_grants(page: str) -> dict[str, set[str]]:
    return {"checked": set(re.findall(r'value="(\d+:\d+)" checked', page)),
            "all": set(re.findall(r'name="grant" value="(\d+:\d+)"', page))}


@pytest.fixture()
def matrix(app, staff):
    yield
    restore_hospital_roles(app)  # put the roles back as the hospital's table has them (finance's export too)


def test_the_permission_matrix_speaks_chinese_and_its_changes_apply_and_are_audited(app, client, matrix):
    login(client, "admin")
    page = client.get("/rolematrix/").get_data(as_text=True)
    assert "can_" not in page and "PaymentOrderView" not in page
    for words in ("财务", "服务台", "信息科运维", "缴费订单", "导出", "查看详情", "取消", "重试退费", "菜单可见"):
        assert words in page, words
    with app.app_context():
        sm = app.appbuilder.sm
        export = sm.find_permission_view_menu("can_export", "PaymentOrderView")
        finance, service = sm.find_role("Finance"), sm.find_role("Service desk")
        finance_export, service_export = f"{finance.id}:{export.id}", f"{service.id}:{export.id}"
    grants = _matrix_grants(page)
    assert finance_export in grants["checked"] and service_export in grants["all"] - grants["checked"]
    wanted = (grants["checked"] - {finance_export}) | {service_export}
    client.post("/rolematrix/", data={"grant": sorted(wanted)})
    with app.app_context():
        rows = {r.target_id: r for r in db.session.scalars(
            select(AuditLog).where(AuditLog.action == "staff.role_permissions"))}
        assert set(rows) == {"Finance", "Service desk"}
        assert "缴费订单·导出" in rows["Finance"].detail and rows["Finance"].actor_name == "admin"
    login(client, "finance")
    assert "/exportjobview/" not in client.post("/paymentorderview/export/").headers.get("Location", "")
    login(client, "service")
    assert "/exportjobview/show/" in client.post("/paymentorderview/export/").headers.get("Location", "")
    login(client, "finance")
    assert client.get("/rolematrix/").status_code in (302, 403)
