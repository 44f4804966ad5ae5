"""Rules other issues made configurable, edited by operations staff: settings, message templates,
导诊 rules, surveys and service instructions. This module says what a valid value is and summarises
survey answers; the back-office forms call it (WTForms validators) before anything is saved.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Survey, SurveyQuestion, SurveyResponse
from app.services.notifications import NOTICE_KINDS

# Known settings: key -> (kind, minimum, maximum). Kinds: int, time (HH:MM), bool, text.
SETTINGS: dict[str, tuple[str, int | None, int | None]] = {
    "booking.days_ahead": ("int", 1, 60),              # booking window (days)
    "booking.window_days": ("int", 1, 60),
    "booking.release_time": ("time", None, None),      # daily release of new slots
    "booking.pay_minutes": ("int", 1, 120),            # payment deadline after booking
    "booking.cancel_deadline": ("time", None, None),   # the day before the visit
    "booking.cancel_hours_before": ("int", 0, 72),
    "booking.max_active": ("int", 1, 50),              # active bookings per patient
    "booking.no_show_limit": ("int", 1, 20),
    "booking.no_show_bar_days": ("int", 1, 365),
    "booking.attendance_grace_minutes": ("int", 0, 720),  # after a session's end, before 爽约
    "booking.attendance_lookback_days": ("int", 1, 31),   # clinic days the attendance sweep asks about
    "booking.same_day_enabled": ("bool", None, None),
    "payment.timeout_minutes": ("int", 1, 120),
    "reminder.unpaid_hour": ("int", 0, 23),
}
# Unknown keys are checked by their name: *_minutes/_days/_hours/_count/_limit are whole numbers,
# *_time/_deadline are HH:MM, *_enabled are booleans.
SUFFIX_KINDS = (
    (re.compile(r".*(_minutes|_days|_hours|_count|_limit|_max|\.max_\w+)$"), "int"),
    (re.compile(r".*(_time|_deadline)$"), "time"),
    (re.compile(r".*_enabled$"), "bool"),
)
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
BOOLEANS = {"true", "false", "1", "0", "yes", "no"}
MESSAGE_KINDS = tuple(NOTICE_KINDS)  # the kinds a 消息模板 may be for: exactly the notices sent
QUESTION_KINDS = ("single", "rating", "text")


class InvalidConfiguration(ValueError):
    """A value staff typed that the hospital's rules refuse; the message says why, translated."""


def setting_kind(key: str) -> tuple[str, int | None, int | None]:
    if key in SETTINGS:
        return SETTINGS[key]
    for pattern, kind in SUFFIX_KINDS:
        if pattern.match(key):
            return kind, 0, None
    return "text", None, None


def validate_setting(key: str, value: str) -> str:
    """The normalised value of setting ``key``, or InvalidConfiguration saying what is expected."""
    key, value = (key or "").strip(), (value or "").strip()
    if not KEY_PATTERN.match(key):
        raise InvalidConfiguration(_("配置键格式应为 模块.名称，例如 booking.days_ahead"))
    if not value:
        raise InvalidConfiguration(_("配置值不能为空"))
    kind, low, high = setting_kind(key)
    if kind == "int":
        if not re.fullmatch(r"-?\d+", value):
            raise InvalidConfiguration(_("%(key)s 应为整数", key=key))
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise InvalidConfiguration(_("%(key)s 应在 %(low)s 到 %(high)s 之间", key=key, low=low,
                                         high=high if high is not None else "∞"))
        return str(number)
    if kind == "time":
        if not TIME_PATTERN.match(value):
            raise InvalidConfiguration(_("%(key)s 应为 HH:MM 格式的时间，例如 17:00", key=key))
        return value
    if kind == "bool":
        if value.lower() not in BOOLEANS:
            raise InvalidConfiguration(_("%(key)s 应为 true 或 false", key=key))
        return "true" if value.lower() in {"true", "1", "yes"} else "false"
    return value


def validate_field_map(text: str) -> str:
    """A message template's field mapping: a JSON object of template field -> our placeholder."""
    try:
        mapping = json.loads(text or "")
    except ValueError:
        raise InvalidConfiguration(_("字段映射应为 JSON 对象，例如 {\"thing1\": \"{doctor}\"}")) from None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in mapping.items()):
        raise InvalidConfiguration(_("字段映射应为 JSON 对象，例如 {\"thing1\": \"{doctor}\"}"))
    return json.dumps(mapping, ensure_ascii=False)


def validate_link(pattern: str | None) -> str | None:
    if not pattern:
        return None
    if not (pattern.startswith("/") or pattern.startswith("https://")):
        raise InvalidConfiguration(_("链接应以 / 或 https:// 开头"))
    return pattern


def validate_options(kind: str, text: str | None) -> str | None:
    """A single-choice question needs a JSON list of at least two distinct options; others none."""
    if kind != "single":
        return text or None
    try:
        options = json.loads(text or "")
    except ValueError:
        options = None
    if (not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o.strip()
                                                                     for o in options)
            or len(set(options)) != len(options)):
        raise InvalidConfiguration(_("单选题的选项应为至少两个不同选项的 JSON 列表，例如 [\"满意\", \"不满意\"]"))
    return json.dumps(options, ensure_ascii=False)


def validate_guidance(category: str | None, keyword: str | None) -> None:
    if not (category or "").strip() and not (keyword or "").strip():
        raise InvalidConfiguration(_("请至少填写项目类别或关键字之一"))


@dataclass
class QuestionResult:
    question: SurveyQuestion
    answered: int = 0
    counts: Counter = field(default_factory=Counter)  # option or rating -> answers
    average: float | None = None
    texts: list[str] = field(default_factory=list)  # the latest free-text answers


@dataclass
class SurveyResults:
    survey: Survey
    responses: int
    questions: list[QuestionResult]


def survey_results(survey_id: int, latest_texts: int = 20) -> SurveyResults | None:
    """How a survey was answered: per question the count of each option, the average rating and the
    latest free-text answers (no names: answers are shown without who gave them)."""
    survey = db.session.get(Survey, survey_id)
    if survey is None:
        return None
    results = {q.id: QuestionResult(q) for q in survey.questions}
    responses = 0
    for answers_json in db.session.scalars(select(SurveyResponse.answers_json)
                                           .where(SurveyResponse.survey_id == survey_id)
                                           .order_by(SurveyResponse.id.desc())
                                           .execution_options(yield_per=500)):
        responses += 1
        try:
            answers = json.loads(answers_json or "{}")
        except ValueError:
            continue
        for qid, result in results.items():
            answer = answers.get(str(qid), answers.get(qid))
            if answer in (None, ""):
                continue
            result.answered += 1
            if result.question.kind == "text":
                if len(result.texts) < latest_texts:
                    result.texts.append(str(answer))
            else:
                result.counts[str(answer)] += 1
    for result in results.values():
        if result.question.kind == "rating" and result.answered:
            numeric = [(int(k), n) for k, n in result.counts.items() if k.lstrip("-").isdigit()]
            if numeric:
                result.average = round(sum(k * n for k, n in numeric) / sum(n for _k, n in numeric), 2)
    return SurveyResults(survey=survey, responses=responses, questions=list(results.values()))
