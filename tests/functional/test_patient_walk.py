"""A walk of every patient (H5) page, as a patient with data in every state sees it (issue 13).

One account holds a mother, her child, a woman in hospital and a card with unpaid bills; registration
payments stand in every state (created, paying, closed, paid, confirmed, confirm_failed, refunded).
Every GET page of the H5 blueprint is opened with every value its URL can take from that data; a new
page whose URL the walk cannot fill fails the test, so it is walked too. A page fails the walk on a
5xx, "None" shown as a value, an object's repr, English on a zh_CN page, or a time in UTC.

The clock is moved to the next 07:13 in Beijing (23:13 UTC the day before): every timestamp written during
the walk is then between 23:13 and 23:59 in UTC, which no page may show.
"""

from __future__ import annotations

import datetime as dt
import html
import re

from app import clock
from app.extensions import db
from app.models import ChannelUser
from tests import factories
from tests.helpers.patient_walk import walk_urls, walk_values

#: English a zh_CN page may show: brand and unit names, the language switch
ENGLISH_ALLOWED = {"EN", "WeUI", "PDF", "HIS", "ID", "No", "OK", "kg", "cm", "mmHg", "mmol", "umol", "Hb", "HCG",
                   "WBC", "RBC", "PLT", "HGB", "NST", "B", "CT", "DR", "TSH", "ALT", "AST", "GLU", "CRP", "HPV",
                   "mg", "ml", "mL", "L", "g", "U", "IU", "pg", "fL", "mIU", "ng", "nmol", "pmol", "min", "bpm",
                   "dL", "A", "V", "X"}
#: the hospital's name: the home page's title, not any other page's
GENERIC_TITLES = {"妇幼保健院", "Maternal & Child Hospital"}


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def _utc_clock_times(start_utc: dt.datetime, end_utc: dt.datetime) -> set[str]:
    """Every HH:MM the UTC clock showed during the walk (one minute of margin)."""
    shown, moment = set(), start_utc.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    while moment <= end_utc + dt.timedelta(minutes=1):
        shown.add(moment.strftime("%H:%M"))
        moment += dt.timedelta(minutes=1)
    return shown


def _problems(url: str, response, utc_times: set[str], english_page: bool = False) -> list[str]:
    found = []
    if response.status_code >= 500:
        return [f"{url}: {response.status_code}"]
    if response.status_code != 200 or "text/html" not in response.content_type:
        return []
    page = response.get_data(as_text=True)
    text = _visible_text(page)
    if re.search(r"\bNone\b", text):
        found.append(f"{url}: shows None: …{text[max(0, text.find('None') - 60):text.find('None') + 20]!r}")
    if re.search(r"object at 0x[0-9a-f]+", page) or re.search(r"<\w+(\.\w+)+ object", text):
        found.append(f"{url}: shows an object's repr")
    for hhmm in utc_times:
        if re.search(rf"(?<![\d:]){hhmm}(?![\d])", text):
            found.append(f"{url}: shows the UTC time {hhmm}")
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    heading = re.search(r'<h1 class="h5-title">(.*?)</h1>', page, re.S)
    if (title and heading and html.unescape(title.group(1)).strip() in GENERIC_TITLES
            and _visible_text(heading.group(1)).strip() not in GENERIC_TITLES):
        # WeChat and Alipay show <title> in their top bar: "妇幼保健院" above every page is no help (a
        # page may name itself more closely, e.g. a report by its test: 尿常规)
        found.append(f"{url}: title {title.group(1).strip()!r} is not the page's heading {heading.group(1).strip()!r}")
    if not english_page:
        words = {w for w in re.findall(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])", text)
                 if w not in ENGLISH_ALLOWED}
        if words:
            found.append(f"{url}: English on a zh_CN page: {sorted(words)[:12]}")
    return found


def test_every_patient_page_in_every_state(app, client, walk_data):
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, walk_data["owner"]))
    urls = walk_urls(app, walk_values(app, walk_data))
    for state, (_, order_no) in walk_data["orders"].items():  # each payment state is among the walked pages
        assert f"/h5/pay/{order_no}/result" in urls, state
    responses = []
    for url in urls:
        responses.append((url, client.get(url)))
    utc_times = _utc_clock_times(walk_data["since"], clock.utcnow())
    problems = [p for url, response in responses for p in _problems(url, response, utc_times)]
    assert problems == [], "\n".join(problems)
    # the payment pages say something for every state (no blank result page)
    for state, (_, order_no) in walk_data["orders"].items():
        result = client.get(f"/h5/pay/{order_no}/result")
        assert result.status_code == 200 and "weui-msg__title" in result.get_data(as_text=True), state


def test_the_english_pages_walk_too(app, client, walk_data):
    """The same walk in English: no 5xx, no None, no repr, no UTC time (Chinese names may show)."""
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, walk_data["owner"]))
    client.get("/h5/lang/en")
    urls = walk_urls(app, walk_values(app, walk_data))
    responses = [(url, client.get(url)) for url in urls]
    utc_times = _utc_clock_times(walk_data["since"], clock.utcnow())
    problems = [p for url, response in responses for p in _problems(url, response, utc_times, english_page=True)]
    assert problems == [], "\n".join(problems)


def test_the_walk_sees_what_users_see():
    """The walk's eyes: each thing it must catch is caught (a walk that cannot fail is no walk)."""
    from werkzeug.wrappers import Response

    def page(body: str, status: int = 200) -> Response:
        return Response(f"<html><body><main>{body}</main><script>var x = 'English None';</script></body></html>",
                        status=status, content_type="text/html; charset=utf-8")

    utc = {"23:13"}
    assert _problems("/ok", page("预约成功 ¥12.50 07:13 YY20261202071300 EN"), utc) == []
    assert _problems("/500", page("出错了", 500), utc) == ["/500: 500"]
    assert "shows None" in _problems("/none", page("就诊卡 None"), utc)[0]
    assert "repr" in _problems("/repr", page("&lt;app.models.operations.SurveyQuestion object at 0x7f3a&gt;"), utc)[0]
    assert "English" in _problems("/en", page("Show Survey 满意度调查"), utc)[0]
    assert "UTC time 23:13" in _problems("/utc", page("下单时间 2026-12-01 23:13"), utc)[0]
    assert _problems("/en-page", page("Show Survey"), utc, english_page=True) == []
    titled = Response('<html><head><title>妇幼保健院</title></head>'
                      '<body><h1 class="h5-title">我的预约</h1></body></html>', content_type="text/html; charset=utf-8")
    assert "is not the page's heading" in _problems("/title", titled, utc)[0]
