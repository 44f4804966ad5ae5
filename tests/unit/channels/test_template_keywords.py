"""WeChat 服务号 template keywords (类目模板): each key's type has a rule, WeChat refuses the whole push
(47003) when a value breaks one, the sandbox refuses the same, and the platform fits every value first."""

from __future__ import annotations

import datetime as dt

import pytest

from app.channels.messages import PushMessage, PushRefused
from doubles.channels.messages import SandboxSender
from app.channels.wechat.keywords import fit, keyword_type, violation

LONG_BODY = ("很抱歉，谢诗医生 2026-12-03 上午 停诊（医生外出会诊），您的预约已取消，挂号费将原路退回。"
             "点击可一键改约该医生其他时段。")


@pytest.mark.parametrize(("key", "kind"), [("thing1", "thing"), ("character_string12", "character_string"),
                                           ("phrase3", "phrase"), ("name4", "name"), ("amount5", "amount"),
                                           ("time6", "time"), ("phone_number7", "phone_number"),
                                           ("keyword1", None), ("first", None)])
def test_a_keys_type_is_its_name_without_the_number(key, kind):
    assert (keyword_type(key).code if keyword_type(key) else None) == kind


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("thing1", "预约成功", True), ("thing1", "一" * 20, True), ("thing1", "一" * 21, False),
    ("character_string2", "YY20261203000001", True), ("character_string2", "A" * 33, False),
    ("character_string2", "预约单号1", False),
    ("phrase3", "已退款", True), ("phrase3", "退款处理中啊啊", False), ("phrase3", "OK", False),
    ("name4", "何晓霞", True), ("name4", "何*霞", False), ("name4", "欧阳" * 6, False),
    ("amount5", "¥12.50", True), ("amount5", "12.50元", True), ("amount5", "1250 分", False),
    ("amount5", "¥12.505", False),
    ("time6", "2026年12月3日 08:20", True), ("time6", "15:01", True), ("time6", "2026-12-03T00:20:00", False),
    ("time6", "明天上午", False),
    ("phone_number7", "0662-7712345", True), ("phone_number7", "电话 0662", False),
    ("phone_number7", "1" * 18, False),
    ("keyword1", LONG_BODY, True),
])
def test_each_type_has_wechats_rule(key, value, ok):
    assert (violation(key, value) is None) is ok


@pytest.mark.parametrize(("key", "value", "fitted"), [
    ("thing2", LONG_BODY, LONG_BODY[:19] + "…"),
    ("thing2", "短", "短"),
    ("character_string3", "YY2026120300000112345678901234567890", "YY202612030000011234567890123456"),
    ("phrase4", "退款处理中啊", "退款处理中"),
    ("name5", "何*霞", "何霞"),
    ("amount6", 1250, "¥12.50"),
    ("amount6", "12.5", "¥12.50"),
    ("time7", dt.datetime(2026, 12, 3, 8, 20), "2026年12月3日 08:20"),
    ("time7", "2026-12-03T08:20:00", "2026年12月3日 08:20"),
    ("date8", "2026-12-03", "2026年12月3日"),
    ("date8", dt.date(2026, 12, 3), "2026年12月3日"),
    ("phone_number8", "电话：0662-7712345", "0662-7712345"),
])
def test_the_platform_fits_each_value_to_its_type(key, value, fitted):
    assert fit(key, value) == fitted
    assert violation(key, fit(key, value)) is None


def _message(**fields):
    return PushMessage("wechat", "oUSER1", "TPL-1", fields, "https://h.example/h5/", "停诊通知")


def test_the_sandbox_refuses_what_wechat_refuses_with_47003():
    with pytest.raises(PushRefused) as refused:
        SandboxSender("wechat").send(_message(thing1="停诊通知", thing2=LONG_BODY))
    assert refused.value.code == "47003" and "thing2" in refused.value.message
    assert refused.value.reason == "bad_template"  # final: retrying the same values cannot help
    assert SandboxSender("wechat").send(_message(thing1="停诊通知", thing2=fit("thing2", LONG_BODY))).message_id
