"""Finance opens 数据分析: the vendored ECharts draws every chart (no network needed)."""

from __future__ import annotations

import datetime as dt

from app import clock
from app.extensions import db
from app.models import FollowEvent
from tests.browser.conftest import shot


def test_analytics_charts_render(desktop_page, live_server, app):
    from doubles.demo.hospital import seed_demo

    today = clock.today()
    with app.app_context():
        seed_demo()
        for i in range(10):
            db.session.add(FollowEvent(channel="wechat" if i % 3 else "alipay", channel_uid=f"u{i}",
                                       event="subscribe", at=dt.datetime.combine(today, dt.time(2)) -
                                       dt.timedelta(days=i % 5)))
        db.session.commit()
    page = desktop_page
    page.goto(f"{live_server}/login/")
    page.fill("input[name=username]", "finance")
    page.fill("input[name=password]", "finance123")
    page.click("input[type=submit], button[type=submit]")
    page.goto(f"{live_server}/analytics/")
    for chart in ("followers", "bindings", "registrations", "amounts", "counts"):
        page.wait_for_selector(f"#chart-{chart} canvas")
    assert page.locator("[data-summary] tbody tr").count() >= 10
    shot(page, "backoffice_analytics")
