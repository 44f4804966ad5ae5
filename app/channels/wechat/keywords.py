"""WeChat 服务号 template keywords (类目模板): a key names its type (``thing1``, ``time3``, ``amount4`` ...),
and WeChat checks each value against its type's rule, refusing the whole push (errcode 47003) when one
breaks it. The sandbox channel enforces the same rules (``violation``); the platform fits every value to
its field's type before sending (``fit``: cut with …, amounts and times in the channel's format).

Keys with no type (``keyword1``, ``first``, ``remark`` of the old free templates) take up to 200 characters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

HAN = r"\u4e00-\u9fff"
ELLIPSIS = "…"
FREE_LIMIT = 200


@dataclass(frozen=True)
class KeywordType:
    code: str
    label: object     # the type's Chinese name (lazy)
    rule: object      # what WeChat accepts, as staff read it on the 消息模板 page (lazy)


TYPES = {t.code: t for t in (
    KeywordType("thing", _l("事物"), _l("20 个字以内，汉字、数字、字母或符号")),
    KeywordType("character_string", _l("字符串"), _l("32 位以内数字、字母或符号")),
    KeywordType("number", _l("数字"), _l("32 位以内数字，可带小数")),
    KeywordType("letter", _l("字母"), _l("32 位以内字母")),
    KeywordType("symbol", _l("符号"), _l("5 位以内符号")),
    KeywordType("phrase", _l("汉字短语"), _l("5 个以内汉字")),
    KeywordType("name", _l("姓名"), _l("10 个以内纯汉字或 20 个以内纯字母")),
    KeywordType("amount", _l("金额"), _l("币种符号加 10 位以内数字，可带两位小数，如 ¥12.50")),
    KeywordType("time", _l("时间"), _l("24 小时制时间，可带年月日，如 2026年12月3日 08:20")),
    KeywordType("date", _l("日期"), _l("年月日，可带 24 小时制时间，如 2026年12月3日")),
    KeywordType("phone_number", _l("电话"), _l("17 位以内数字和符号")),
    KeywordType("car_number", _l("车牌号"), _l("8 位以内车牌号")),
)}

_KEY = re.compile(r"^([a-z_]+?)(\d+)$")
_CLOCK = r"\d{1,2}:\d{2}(:\d{2})?"
_DAY = r"\d{4}年\d{1,2}月\d{1,2}日"
_TIME_POINT = rf"({_DAY} ?)?{_CLOCK}"
_DATE_POINT = rf"{_DAY}( ?{_CLOCK})?"
_RULES = {
    "thing": lambda v: len(v) <= 20,
    "character_string": lambda v: len(v) <= 32 and re.fullmatch(r"[\x21-\x7e]*", v) is not None,
    "number": lambda v: len(v) <= 32 and re.fullmatch(r"\d+(\.\d+)?", v) is not None,
    "letter": lambda v: len(v) <= 32 and re.fullmatch(r"[A-Za-z]+", v) is not None,
    "symbol": lambda v: len(v) <= 5 and re.fullmatch(r"[^\w\s]+", v) is not None,
    "phrase": lambda v: re.fullmatch(rf"[{HAN}]{{1,5}}", v) is not None,
    "name": lambda v: re.fullmatch(rf"[{HAN}]{{1,10}}|[A-Za-z .·'-]{{1,20}}", v) is not None,
    "amount": lambda v: re.fullmatch(r"[¥￥$]?\d{1,10}(\.\d{1,2})?元?", v) is not None,
    "time": lambda v: re.fullmatch(rf"{_TIME_POINT}(~{_TIME_POINT})?", v) is not None,
    "date": lambda v: re.fullmatch(rf"{_DATE_POINT}(~{_DATE_POINT})?", v) is not None,
    "phone_number": lambda v: re.fullmatch(r"[\d+\-() ]{1,17}", v) is not None,
    "car_number": lambda v: len(v) <= 8,
}


def keyword_type(key: str) -> KeywordType | None:
    """The type a keyword's name gives (``thing2`` -> thing), None for an untyped key."""
    match = _KEY.match(key)
    return TYPES.get(match.group(1)) if match else None


def violation(key: str, value: str) -> str | None:
    """Why WeChat would refuse ``value`` in ``key`` (its 47003), or None when it fits."""
    kind = keyword_type(key)
    if kind is None:
        return None if len(value) <= FREE_LIMIT else f"data.{key}.value exceeds {FREE_LIMIT} characters"
    if not value or not _RULES[kind.code](value):
        return f"data.{key}.value invalid for {kind.code}: {value[:40]!r}"
    return None


def _moment(value: object) -> dt.datetime | dt.date | None:
    if isinstance(value, dt.datetime | dt.date):
        return value
    text = str(value).strip()
    for parse in (dt.datetime.fromisoformat, dt.date.fromisoformat):
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def _day(moment: dt.date) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日"


def _fit_time(value: object, with_clock: bool) -> str:
    moment = _moment(value)
    if isinstance(moment, dt.datetime):
        return f"{_day(moment)} {moment:%H:%M}" if with_clock or moment.time() != dt.time() else _day(moment)
    if isinstance(moment, dt.date):
        return _day(moment)
    return str(value)


def _fit_amount(value: object) -> str:
    """An integer is fen (the platform's money); a string is yuan. Shown as ¥12.50."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"¥{value // 100}.{value % 100:02d}"
    match = re.search(r"\d+(\.\d+)?", str(value))
    return f"¥{float(match.group(0)):.2f}" if match else str(value)


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1] + ELLIPSIS


def fit(key: str, value: object) -> str:
    """``value`` made acceptable to ``key``'s type: text cut with …, disallowed characters dropped,
    money (fen) and times (Beijing, naive) in WeChat's format."""
    kind = keyword_type(key)
    code = kind.code if kind else None
    if code == "amount":
        return _fit_amount(value)
    if code in ("time", "date"):
        fitted = _fit_time(value, with_clock=code == "time")
        return fitted if violation(key, fitted) is None else _cut(fitted, 20)
    text = str(value)
    if code is None:
        return _cut(text, FREE_LIMIT)
    if code == "thing":
        return _cut(text, 20)
    if code == "character_string":
        return re.sub(r"[^\x21-\x7e]", "", text)[:32]
    if code == "number":
        return re.sub(r"[^\d.]", "", text)[:32]
    if code == "letter":
        return re.sub(r"[^A-Za-z]", "", text)[:32]
    if code == "phrase":
        return re.sub(rf"[^{HAN}]", "", text)[:5]
    if code == "name":
        han = re.sub(rf"[^{HAN}]", "", text)
        return han[:10] if han else re.sub(r"[^A-Za-z .·'-]", "", text)[:20]
    if code == "phone_number":
        return re.sub(r"[^\d+\-() ]", "", text).strip()[:17]
    return text[:8] if code == "car_number" else _cut(text, 5)


def describe_mapping(mapping: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(field, its type's name, the type's rule, what fills it) for each field of a template mapping,
    as the 消息模板 page shows them."""
    rows = []
    for key, source in mapping.items():
        kind = keyword_type(key)
        rows.append((key, str(kind.label) if kind else str(_l("不限类型")),
                     str(kind.rule) if kind else str(_l("%(n)s 个字以内", n=FREE_LIMIT)), source))
    return rows


def rules_text() -> str:
    """Every type with its rule, one line each, for the mapping field's help text."""
    return "；".join(f"{code}（{t.label}）：{t.rule}" for code, t in TYPES.items())
