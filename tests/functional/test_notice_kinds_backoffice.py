"""消息发送 names each notice's kind as staff chose its template (爽约提醒), never the code (no_show), and is
searched by picking that name."""

from __future__ import annotations

import re

from app.extensions import db
from app.messages.notifications import notify
from app.models import ChannelUser
from tests import factories
from tests.backoffice_helpers import login, seed_staff_and_orders


def test_the_notice_list_names_kinds_and_filters_by_them(app, client):
    seed_staff_and_orders(app)
    with app.app_context():
        owner = factories.channel_user()
        db.session.flush()
        notify(owner.id, "no_show", "您有一次未就诊记录", "您昨天的预约未就诊", dedupe_key="kind-test:no_show")
        notify(owner.id, "bill_paid", "缴费成功", "请到药房取药", dedupe_key="kind-test:bill_paid")
        db.session.commit()
        assert db.session.get(ChannelUser, owner.id) is not None
    login(client, "admin")

    page = client.get("/notificationview/list/").get_data(as_text=True)
    assert "爽约提醒" in page and "缴费成功通知（含导诊）" in page
    assert not re.search(r">\s*(no_show|bill_paid)\s*<", page)
    assert 'value=\\"no_show\\"' in page and 'value=\\"wechat\\"' in page  # the search offers names to pick

    filtered = client.get("/notificationview/list/?_flt_0_kind=no_show").get_data(as_text=True)
    assert "爽约提醒" in filtered and "缴费成功通知（含导诊）" not in filtered
