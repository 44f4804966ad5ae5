"""Sign-in through each channel's sandbox, card binding, contacts and ownership (issue 4)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ApiNonce, AuditLog, ChannelUser, Patient
from tests.identity_helpers import bind_form, sandbox_sign_in, seeded


def test_login_required_pages_send_the_patient_to_the_channel_login(client):
    response = client.get("/h5/me")
    assert response.status_code == 302 and "/h5/login?next=/h5/me" in response.headers["Location"]


def test_a_plain_browser_is_told_to_open_in_wechat_or_alipay(client):
    page = client.get("/h5/login?next=/h5/me").get_data(as_text=True)
    assert "请在微信或支付宝中打开" in page
    assert "模拟微信授权" in page  # sandbox mode offers the desktop demo


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_sign_in_through_each_sandbox_creates_one_account(app, client, his, channel):
    sandbox_sign_in(client, channel)
    page = client.get("/h5/me").get_data(as_text=True)
    assert "个人中心" in page and "我的就诊人" in page
    with app.app_context():
        users = db.session.scalars(select(ChannelUser)).all()
        assert [u.channel for u in users] == [channel]
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "patient.sign_in")) is not None
    # the same person signing in again is the same account
    with app.app_context():
        uid = users[0].channel_uid
    client.post("/h5/logout")
    sandbox_sign_in(client, channel, uid=uid)
    with app.app_context():
        assert db.session.query(ChannelUser).count() == 1


def test_a_replayed_code_is_refused(app, client, his):
    callback = sandbox_sign_in(client, "wechat")
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = client.environ_base["HTTP_USER_AGENT"]
    # a second browser replaying the same code (even with a matching state) gets nothing
    login = other.get("/h5/login?next=/h5/me")
    state = login.headers["Location"].split("state=")[1].split("&")[0]
    replay = other.get(callback.split("state=")[0] + f"state={state}")
    assert replay.status_code == 400
    assert "授权码已使用或已失效" in replay.get_data(as_text=True)
    assert other.get("/h5/me").status_code == 302
    with app.app_context():
        assert db.session.query(ApiNonce).filter(ApiNonce.caller == "oauth-wechat").count() == 1


def test_callback_without_our_state_is_refused(client, his):
    response = client.get("/h5/auth/wechat/callback?code=abc&state=forged")
    assert response.status_code == 400


def test_a_forged_sandbox_code_is_refused(client, his):
    client.environ_base["HTTP_USER_AGENT"] = "MicroMessenger/8.0"
    login = client.get("/h5/login?next=/h5/me")
    state = login.headers["Location"].split("state=")[1].split("&")[0]
    response = client.get(f"/h5/auth/wechat/callback?code=forged-code&state={state}")
    assert response.status_code == 400 and client.get("/h5/me").status_code == 302


def test_sandbox_page_refuses_foreign_redirects(client):
    response = client.get("/h5/auth/sandbox/wechat", query_string={
        "redirect_uri": "https://evil.example/h5/auth/wechat/callback", "state": "x"})
    assert response.status_code == 400


def test_sandbox_page_is_absent_in_live_mode(app, client):
    app.config["OAUTH_MODE"] = "live"
    try:
        assert client.get("/h5/auth/sandbox/wechat?redirect_uri=/h5/auth/wechat/callback").status_code == 404
    finally:
        app.config["OAUTH_MODE"] = "sandbox"


def test_live_wechat_login_redirects_to_wechat_oauth(app, client):
    app.config["OAUTH_MODE"] = "live"
    try:
        client.environ_base["HTTP_USER_AGENT"] = "MicroMessenger/8.0"
        location = client.get("/h5/login?next=/h5/me").headers["Location"]
        assert location.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
        assert "scope=snsapi_base" in location and "%2Fh5%2Fauth%2Fwechat%2Fcallback" in location
        location = client.get("/h5/login?next=/h5/me&scope=userinfo").headers["Location"]
        assert "scope=snsapi_userinfo" in location
    finally:
        app.config["OAUTH_MODE"] = "sandbox"


def test_session_expires_after_inactivity(app, client, his):
    sandbox_sign_in(client)
    with client.session_transaction() as s:
        s["channel_user_seen"] = "2000-01-01T00:00:00"
    assert client.get("/h5/me").status_code == 302


# --- card binding --------------------------------------------------------------------------------

def test_bind_own_card_then_a_child_contact(app, client, his):
    sandbox_sign_in(client)
    mother, child = seeded("mother"), seeded("child")
    response = client.post("/h5/patients/new", data=bind_form(mother))
    assert response.status_code == 302
    response = client.post("/h5/patients/new", data=bind_form(child, relation="child", with_card=False,
                                                                 guardian_name=mother.name,
                                                                 guardian_id_number=mother.id_number))
    assert response.status_code == 302
    page = client.get("/h5/patients").get_data(as_text=True)
    assert mother.id_number not in page and mother.phone not in page  # masked in lists
    assert mother.card_no in page and child.card_no in page  # the HIS found the child's card by ID
    with app.app_context():
        rows = db.session.scalars(select(Patient).order_by(Patient.id)).all()
        assert [(r.relation, r.is_default) for r in rows] == [("self", True), ("child", False)]
        assert rows[1].guardian_id_number == mother.id_number


def test_bind_a_child_without_an_id_number_through_the_guardian(app, client, his):
    sandbox_sign_in(client)
    mother = seeded("mother")
    child = next(seeded("child", i) for i in range(20) if seeded("child", i).guardian_id_number)
    assert client.post("/h5/patients/new", data=bind_form(mother)).status_code == 302
    missing = client.post("/h5/patients/new", data=bind_form(child, relation="child", id_number="",
                                                             with_card=False))
    page = missing.get_data(as_text=True)
    assert "未办理身份证的儿童请填写就诊卡号" in page and "未办理身份证的儿童请填写监护人身份证号" in page
    wrong = client.post("/h5/patients/new", data=bind_form(child, relation="child", id_number="",
                                                           guardian_name=mother.name,
                                                           guardian_id_number=seeded("mother", 5).id_number))
    assert "信息核验未通过" in wrong.get_data(as_text=True)
    ok = client.post("/h5/patients/new", data=bind_form(child, relation="child", id_number="",
                                                        guardian_name="监护人",
                                                        guardian_id_number=child.guardian_id_number))
    assert ok.status_code == 302, re.findall(r'role="alert">([^<]+)<', ok.get_data(as_text=True))
    with app.app_context():
        row = db.session.scalar(select(Patient).where(Patient.card_no == child.card_no))
        assert row.id_number is None and row.guardian_id_number == child.guardian_id_number
        assert row.birth_date == child.birth_date and row.gender == {"M": "male", "F": "female"}[child.gender]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("id_number", "440000199001011230", "身份证号码不正确"),
    ("phone", "12345", "请输入正确的 11 位手机号码"),
    ("name", "a", "请输入真实姓名"),
    ("card_no", "12ab", "就诊卡号应为 6-20 位数字"),
])
def test_bad_input_gets_a_message_beside_the_field(client, his, field, value, message):
    sandbox_sign_in(client)
    data = bind_form(seeded("mother"))
    data[field] = value
    response = client.post("/h5/patients/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="e-{field}"' in page and message in page


@pytest.mark.parametrize(("field", "message"), [
    ("id_number", "请填写身份证号码"),
    ("phone", "请填写手机号"),
    ("name", "请填写姓名"),
])
def test_a_missing_field_is_named_as_missing_and_the_rest_is_kept(client, his, field, message):
    """An empty field is asked for, not called wrong; what was typed elsewhere stays in the form."""
    sandbox_sign_in(client)
    mother = seeded("mother")
    data = bind_form(mother)
    data[field] = ""
    response = client.post("/h5/patients/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'id="e-{field}" role="alert">{message}<', page), page
    kept = {"name": mother.name, "id_number": mother.id_number, "phone": mother.phone}
    kept.pop(field)
    for value in kept.values():
        assert f'value="{value}"' in page


def test_english_field_messages(client, his):
    sandbox_sign_in(client)
    client.get("/h5/lang/en")
    data = bind_form(seeded("mother"))
    data["id_number"] = "123"
    page = client.post("/h5/patients/new", data=data).get_data(as_text=True)
    assert "ID number" in page and "身份证号码不正确" not in page


def test_failed_verification_does_not_reveal_whose_card_it_is(client, his):
    sandbox_sign_in(client)
    mother, other = seeded("mother"), seeded("mother", 1)
    wrong_name = client.post("/h5/patients/new", data=bind_form(mother, name=other.name)).get_data(as_text=True)
    wrong_card = client.post("/h5/patients/new",
                             data=bind_form(mother, card_no="8800999999")).get_data(as_text=True)
    message = "信息核验未通过：请核对姓名、身份证号与就诊卡号是否与医院登记一致"
    assert message in wrong_name and message in wrong_card
    assert other.name not in wrong_card


def test_first_visit_without_a_card_opens_one_in_the_his(app, client, his):
    from app.identity.id_numbers import id_number_check_digit

    sandbox_sign_in(client)
    first17 = "44178120200301123"
    data = {"relation": "self", "name": "新患者", "id_number": first17 + id_number_check_digit(first17),
            "phone": "13800000001", "card_no": ""}
    assert client.post("/h5/patients/new", data=data).status_code == 302
    with app.app_context():
        patient = db.session.scalar(select(Patient))
        assert patient.card_no.startswith("88") and patient.his_patient_id


def test_a_card_binds_once_and_self_only_once(client, his):
    sandbox_sign_in(client)
    mother = seeded("mother")
    client.post("/h5/patients/new", data=bind_form(mother))
    again = client.post("/h5/patients/new", data=bind_form(mother, relation="other")).get_data(as_text=True)
    assert "该就诊卡已绑定在您的账号中" in again
    self_again = client.post("/h5/patients/new", data=bind_form(seeded("mother", 1))).get_data(as_text=True)
    assert "本人只能绑定一次" in self_again


def test_at_most_the_configured_number_of_patients(app, client, his):
    from app.models import SystemSetting

    with app.app_context():
        db.session.add(SystemSetting(key="patients.max_per_account", value="2"))
        db.session.commit()
    sandbox_sign_in(client)
    client.post("/h5/patients/new", data=bind_form(seeded("mother")))
    client.post("/h5/patients/new", data=bind_form(seeded("child"), relation="child"))
    third = client.post("/h5/patients/new", data=bind_form(seeded("child", 1), relation="child"))
    assert "最多绑定 2 位就诊人" in third.get_data(as_text=True)


def test_edit_default_and_remove_contacts(app, client, his):
    sandbox_sign_in(client)
    client.post("/h5/patients/new", data=bind_form(seeded("mother")))
    client.post("/h5/patients/new", data=bind_form(seeded("child"), relation="child"))
    with app.app_context():
        mother_id, child_id = db.session.scalars(select(Patient.id).order_by(Patient.id)).all()
    assert client.post(f"/h5/patients/{child_id}/edit", data={"relation": "child", "phone": "13911112222"}
                       ).status_code == 302
    assert client.post(f"/h5/patients/{child_id}/default").status_code == 302
    with app.app_context():
        assert db.session.get(Patient, child_id).is_default and not db.session.get(Patient, mother_id).is_default
        assert db.session.get(Patient, child_id).phone == "13911112222"
    assert client.post(f"/h5/patients/{child_id}/remove").status_code == 302
    with app.app_context():
        assert db.session.get(Patient, child_id).status == "unbound"
        assert db.session.get(Patient, mother_id).is_default
    # rebinding a removed card works again
    assert client.post("/h5/patients/new", data=bind_form(seeded("child"), relation="child")).status_code == 302


def test_another_accounts_contact_ids_return_404(app, clean_db, his):
    owner, intruder = app.test_client(), app.test_client()
    sandbox_sign_in(owner, nickname="甲")
    owner.post("/h5/patients/new", data=bind_form(seeded("mother")))
    with app.app_context():
        pid = db.session.scalar(select(Patient.id))
    sandbox_sign_in(intruder, nickname="乙")
    assert intruder.get(f"/h5/patients/{pid}/edit").status_code == 404
    for action in ("edit", "default", "remove"):
        assert intruder.post(f"/h5/patients/{pid}/{action}", data={"relation": "self", "phone": "13900000000"}
                             ).status_code == 404
    with app.app_context():
        patient = db.session.get(Patient, pid)
        assert patient.status == "bound" and patient.phone == seeded("mother").phone
