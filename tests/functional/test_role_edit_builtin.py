"""角色列表 → 编辑角色: a built-in role shows its Chinese name and keeps its configuration key.

The role rows Admin/Finance/Operations/Service desk are named by key in the configuration and in
`flask roles sync`; IT editing one saw the bare key "Admin" in an editable box, and renaming it would
have cut every operator of that role off their menus at the next sync."""

from __future__ import annotations

import re

from app.extensions import db
from tests.backoffice_helpers import login, seed_staff_and_orders


def _role_id(app, name: str) -> int:
    with app.app_context():
        role = app.appbuilder.sm.find_role(name)
        return role.id


def test_a_built_in_role_shows_its_chinese_name_and_its_key_cannot_be_changed(app, client):
    seed_staff_and_orders(app)
    login(client, "admin")
    finance = _role_id(app, "Finance")

    page = client.get(f"/roles/edit/{finance}").get_data(as_text=True)
    name_input = re.search(r'<input[^>]*name="name"[^>]*>', page).group(0)
    assert "readonly" in name_input
    assert "内置角色「财务」" in page

    response = client.post(f"/roles/edit/{finance}", data={"name": "Cashier"})
    assert response.status_code == 200  # the form again, with the message beside the field
    assert "内置角色的名称供系统配置使用，不能修改" in response.get_data(as_text=True)
    with app.app_context():
        assert app.appbuilder.sm.find_role("Finance") is not None
        assert app.appbuilder.sm.find_role("Cashier") is None


def test_a_role_the_hospital_added_can_be_renamed(app, client):
    seed_staff_and_orders(app)
    login(client, "admin")
    with app.app_context():
        role = app.appbuilder.sm.add_role("挂号组")
        role_id = role.id
        db.session.remove()

    page = client.get(f"/roles/edit/{role_id}").get_data(as_text=True)
    name_input = re.search(r'<input[^>]*name="name"[^>]*>', page).group(0)
    assert "readonly" not in name_input

    response = client.post(f"/roles/edit/{role_id}", data={"name": "挂号收费组"})
    assert response.status_code == 302
    with app.app_context():
        assert app.appbuilder.sm.find_role("挂号收费组") is not None
        app.appbuilder.sm.delete_role("挂号收费组")
