"""Message centre (read/unread, ownership), service instructions (sanitised), surveys (once per visit)."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import ChannelUser, Notification, ServiceInstruction, SurveyResponse
from tests.identity_helpers import sandbox_sign_in


def _owner_id(app, nickname: str) -> int:
    with app.app_context():
        return db.session.scalar(select(ChannelUser.id).where(ChannelUser.nickname == nickname))


def _notify(app, owner_id: int, key: str, title: str = "缴费成功") -> int:
    from app.messages.notifications import notify

    with app.app_context():
        notice = notify(owner_id, "bill_paid", title, "您已成功缴费 35.00 元", dedupe_key=key, link="/h5/")
        db.session.commit()
        return notice.id


def test_message_centre_read_unread_and_ownership(app, clean_db, his):
    me, other = app.test_client(), app.test_client()
    sandbox_sign_in(me, nickname="甲", scope="userinfo")
    sandbox_sign_in(other, nickname="乙", scope="userinfo")
    mine = _notify(app, _owner_id(app, "甲"), "n1")
    _notify(app, _owner_id(app, "甲"), "n2", "预约成功")
    theirs = _notify(app, _owner_id(app, "乙"), "n3")
    page = me.get("/h5/messages").get_data(as_text=True)
    assert "2 条未读" in page and "预约成功" in page
    assert 'data-unread="2"' in me.get("/h5/me").get_data(as_text=True)
    assert "您已成功缴费" in me.get(f"/h5/messages/{mine}").get_data(as_text=True)
    assert "1 条未读" in me.get("/h5/messages").get_data(as_text=True)
    assert me.get(f"/h5/messages/{theirs}").status_code == 404
    with app.app_context():
        assert db.session.get(Notification, theirs).read_at is None
    me.post("/h5/messages/read-all")
    assert "条未读" not in me.get("/h5/messages").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Notification, theirs).read_at is None


def test_instructions_render_sanitised_rich_text(app, client):
    with app.app_context():
        db.session.add(ServiceInstruction(slug="t", title="就诊须知", sort=1,
                                          body='<p>请<strong>提前</strong>到达</p><script>alert(1)</script>'
                                               '<a href="javascript:alert(2)">x</a><img src=x onerror=alert(3)>'))
        db.session.add(ServiceInstruction(slug="hidden", title="草稿", sort=2, body="x", is_published=0))
        db.session.commit()
    index = client.get("/h5/instructions").get_data(as_text=True)
    assert "就诊须知" in index and "草稿" not in index
    page = client.get("/h5/instructions/t").get_data(as_text=True)
    assert "<strong>提前</strong>" in page
    assert "<script>" not in page and "javascript:" not in page and "onerror" not in page
    assert client.get("/h5/instructions/hidden").status_code == 404


def _demo_survey(app):
    from doubles.demo.hospital import seed_identity_demo

    with app.app_context():
        seed_identity_demo()
        from app.models import Survey

        survey = db.session.scalar(select(Survey))
        return survey.id, [q.id for q in survey.questions]


def test_survey_offered_after_a_visit_answered_once(app, client, his):
    survey_id, (rating, single, text) = _demo_survey(app)
    sandbox_sign_in(client, nickname="甲", scope="userinfo")
    owner = _owner_id(app, "甲")
    from app.messages.content import offer_survey

    with app.app_context():
        assert offer_survey(owner, "visit", "GH20260101")
        assert not offer_survey(owner, "payment", "JF1")  # no active payment survey
        db.session.commit()
    url = f"/h5/surveys/{survey_id}?subject=GH20260101"
    assert "您对本次就诊的总体满意度" in client.get(url).get_data(as_text=True)
    missing = client.post(url, data={f"q{single}": "稍长"})
    assert missing.status_code == 400 and "请回答此题" in missing.get_data(as_text=True)
    bad = client.post(url, data={f"q{rating}": "9", f"q{single}": "稍长"})
    assert "请选择 1-5 分" in bad.get_data(as_text=True)
    ok = client.post(url, data={f"q{rating}": "5", f"q{single}": "稍长", f"q{text}": "很好"})
    assert "感谢您的评价" in ok.get_data(as_text=True)
    client.post(url, data={f"q{rating}": "1", f"q{single}": "太长"})
    with app.app_context():
        rows = db.session.scalars(select(SurveyResponse)).all()
        assert len(rows) == 1 and rows[0].overall == 5
    # a subject the account was never invited for is not answerable
    assert client.get(f"/h5/surveys/{survey_id}?subject=SOMEONE-ELSE").status_code == 404


def test_staff_see_deliveries_and_templates(app, client, his):
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
    client.post("/login/", data={"username": "ops", "password": "ops123"})
    for url in ("/notificationview/list/", "/messagepushview/list/", "/messagetemplateview/list/",
                "/followeventview/list/", "/surveyview/list/", "/surveyresponseview/list/",
                "/serviceinstructionview/list/"):
        assert client.get(url).status_code == 200, url
    client.get("/logout/")
    client.post("/login/", data={"username": "finance", "password": "finance123"})
    assert client.get("/messagetemplateview/list/").status_code in (302, 403)


def test_every_notice_kind_sent_can_have_a_template_and_the_demo_has_one_each(app, clean_db):
    """A notice whose kind staff cannot pick in 消息模板 is never pushed: the kinds the code sends, the
    kinds the template form offers and the demo's templates are one list, and notify refuses others."""
    import re
    from pathlib import Path

    import pytest

    from app.models import MessageTemplate
    from app.services import configuration
    from doubles.demo.hospital import seed_identity_demo
    from app.messages.notifications import NOTICE_KINDS, notify

    root = Path(app.root_path)
    sent = {kind for path in root.rglob("*.py")
            for kind in re.findall(r'notify\(\s*[^,()]+(?:\([^()]*\))?,\s*"([a-z_]+)"', path.read_text())}
    assert {"bill_paid", "bill_reminder", "booking_success", "no_show", "stop_clinic"} <= sent  # the scan works
    assert sent <= set(NOTICE_KINDS) and set(configuration.MESSAGE_KINDS) == set(NOTICE_KINDS)
    with app.app_context():
        seed_identity_demo()
        templates = set(db.session.execute(select(MessageTemplate.kind, MessageTemplate.channel)).all())
        assert templates == {(k, c) for k in NOTICE_KINDS for c in ("wechat", "alipay")}
        user = ChannelUser(channel="wechat", channel_uid="kinds-1")
        db.session.add(user)
        db.session.flush()
        with pytest.raises(ValueError, match="unknown notice kind"):
            notify(user.id, "payment_success", "缴费成功", "x", dedupe_key="kinds-1")
        db.session.rollback()


def test_the_template_page_says_each_fields_type(app, client, his):
    """WeChat checks each keyword by its type (thing ≤ 20 ...): staff mapping fields must see which is which."""
    from app.models import MessageTemplate
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
        template_id = db.session.scalar(select(MessageTemplate.id).where(MessageTemplate.channel == "wechat"))
    client.post("/login/", data={"username": "ops", "password": "ops123"})
    shown = client.get(f"/messagetemplateview/show/{template_id}").get_data(as_text=True)
    assert "thing2" in shown and "事物" in shown and "20 个字以内" in shown and "时间" in shown
    listed = client.get("/messagetemplateview/list/").get_data(as_text=True)
    assert "thing1（事物）" in listed
    form = client.get(f"/messagetemplateview/edit/{template_id}").get_data(as_text=True)
    assert "character_string" in form and "32 位以内" in form  # the rules, where staff write the mapping
