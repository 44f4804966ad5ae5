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
from app.messages.notifications import NOTICE_KINDS

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
TIME_PATTERN = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
HOURS_PATTERN = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$")
CODES_PATTERN = re.compile(r"^[A-Za-z0-9_]+(,[A-Za-z0-9_]+)*$")
MESSAGE_KINDS = tuple(NOTICE_KINDS)  # the kinds a 消息模板 may be for: exactly the notices sent
QUESTION_KINDS = ("single", "rating", "text")


class InvalidConfiguration(ValueError):
    """A value staff typed that the hospital's rules refuse; the message says why, translated."""


def validate_setting(key: str, value: str) -> str:
    """The normalised value of setting ``key`` as the registry (app/services/settings.py) defines it, or
    InvalidConfiguration saying in Chinese what is expected."""
    from app.services.money import parse_yuan
    from app.services.settings import FALSE, REGISTRY, TRUE

    key, value = (key or "").strip(), (value or "").strip()
    entry = REGISTRY.get(key)
    if entry is None:
        raise InvalidConfiguration(_("没有这个设置项：%(key)s（只能修改列表中已有的设置）", key=key))
    if not value:
        raise InvalidConfiguration(_("%(label)s：值不能为空", label=entry.label))
    kind, low, high = entry.kind, entry.low, entry.high
    if kind == "plan":  # one visit a line: "when|name|items"
        from app.maternity import rules

        try:
            (rules.parse_prenatal_plan if key == "pregnancy.plan" else rules.parse_child_plan)(value)
        except rules.PlanError as exc:
            raise InvalidConfiguration(_("计划格式不正确（每行 时间|名称|检查项目）：%(why)s", why=str(exc))) from None
        return value
    if kind == "int":
        if not re.fullmatch(r"-?\d+", value):
            raise InvalidConfiguration(_("%(label)s 应为整数", label=entry.label))
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise InvalidConfiguration(_("%(label)s 应在 %(low)s 到 %(high)s 之间", label=entry.label, low=low,
                                         high=high if high is not None else "∞"))
        return str(number)
    if kind == "bool":
        if value.lower() not in TRUE + FALSE:
            raise InvalidConfiguration(_("%(label)s 应为 是/否（1 或 0）", label=entry.label))
        return "1" if value.lower() in TRUE else "0"
    if kind == "time":
        if not TIME_PATTERN.match(value):
            raise InvalidConfiguration(_("%(label)s 应为 HH:MM 格式的时间，例如 17:00", label=entry.label))
        return value
    if kind == "hours":
        value = value.replace(" ", "").replace("—", "-").replace("～", "-").replace("~", "-")
        if not HOURS_PATTERN.match(value):
            raise InvalidConfiguration(_("%(label)s 应为 HH:MM-HH:MM 格式的时段，例如 22:00-08:00",
                                         label=entry.label))
        return value
    if kind == "yuan":
        fen = parse_yuan(value)
        if fen is None or fen <= 0:
            raise InvalidConfiguration(_("%(label)s 应为大于 0 的金额（元），例如 100 或 99.50", label=entry.label))
        return f"{fen // 100}.{fen % 100:02d}" if fen % 100 else str(fen // 100)
    if kind == "location":
        try:
            lat, lng = (float(part) for part in value.replace("，", ",").split(","))
        except ValueError:
            raise InvalidConfiguration(_("%(label)s 应为 纬度,经度，例如 22.1707,111.7913",
                                         label=entry.label)) from None
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise InvalidConfiguration(_("%(label)s 应为 纬度,经度，例如 22.1707,111.7913", label=entry.label))
        return value.replace("，", ",")
    if kind in ("codes", "roles", "code"):
        value = value.replace("，", ",").replace(" ", "") if kind != "roles" else value.replace("，", ",")
        if kind != "roles" and (not CODES_PATTERN.match(value) or (kind == "code" and "," in value)):
            raise InvalidConfiguration(_("%(label)s 应为科室代码（英文字母和数字，多个用逗号分隔）", label=entry.label))
        return value
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


def link_domains() -> set[str]:
    """Hosts a message link may point at: ours (PUBLIC_BASE_URL) and MESSAGE_LINK_DOMAINS."""
    from urllib.parse import urlsplit

    from flask import current_app

    cfg = current_app.config
    hosts = {urlsplit(cfg.get("PUBLIC_BASE_URL") or "").hostname or ""}
    hosts.update(h.strip().lower() for h in str(cfg.get("MESSAGE_LINK_DOMAINS") or "").split(",") if h.strip())
    return {h for h in hosts if h}


def link_allowed(link: str | None) -> bool:
    """A path on our site, or https:// on a configured domain; never another site, never a script."""
    from urllib.parse import urlsplit

    if not link:
        return False
    if any(c in link for c in "\\\r\n\t") or link.startswith("//"):  # //host and /\host are other sites
        return False
    if link.startswith("/"):
        return True
    parts = urlsplit(link)
    return parts.scheme == "https" and (parts.hostname or "").lower() in link_domains()


def validate_link(pattern: str | None) -> str | None:
    if not pattern:
        return None
    sample = pattern.replace("{link}", "/h5/").replace("{id}", "1")
    if not (pattern.startswith("/") or pattern.startswith("https://")) or not link_allowed(sample):
        raise InvalidConfiguration(_("链接只能是本平台的页面（以 / 开头）或已配置域名的 https:// 地址：%(domains)s",
                                     domains="、".join(sorted(link_domains())) or "-"))
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
