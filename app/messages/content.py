"""What the hospital edits in the back-office and patients read or answer in H5: service
instructions (服务说明, sanitised rich text) and satisfaction surveys (满意度调查)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass

import bleach
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.links import patient_url
from app.extensions import db
from app.models import ServiceInstruction, Survey, SurveyResponse
from app.services.errors import Conflict, NotFound
from app.messages.notifications import notify
from app.services.uow import unit_of_work

ALLOWED_TAGS = ["p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h3", "h4", "span", "a",
                "table", "thead", "tbody", "tr", "th", "td", "blockquote", "hr"]
ALLOWED_ATTRS = {"a": ["href", "title"], "td": ["colspan", "rowspan"]}


def render_rich_text(body: str) -> Markup:
    """Staff-edited HTML made safe for patients' pages; plain text keeps its line breaks."""
    if "<" not in body:
        body = "".join(f"<p>{bleach.clean(line)}</p>" for line in body.splitlines() if line.strip())
    clean = bleach.clean(body, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS,
                         protocols=["https", "http", "tel"], strip=True)
    return Markup(clean)  # sanitised above


def published_instructions() -> list[ServiceInstruction]:
    return list(db.session.scalars(select(ServiceInstruction).where(ServiceInstruction.is_published == 1)
                                   .order_by(ServiceInstruction.sort, ServiceInstruction.id)))


def instruction(slug: str) -> ServiceInstruction:
    page = db.session.scalar(select(ServiceInstruction).where(ServiceInstruction.slug == slug,
                                                              ServiceInstruction.is_published == 1))
    if page is None:
        raise NotFound(_("页面不存在或已失效"))
    return page


# --- surveys -------------------------------------------------------------------------------------

def offer_survey(owner_id: int, trigger: str, subject: str) -> bool:
    """Invite an account to the active survey for ``trigger`` ('visit' | 'payment') about ``subject``
    (the visit's or payment's order number), once, as a notice in the caller's unit of work.
    Returns False when no survey is active for that trigger."""
    survey = db.session.scalar(select(Survey).where(Survey.trigger == trigger, Survey.is_active.is_(True))
                               .order_by(Survey.id.desc()))
    if survey is None:
        return False
    notify(owner_id, "survey", _("满意度调查"), _("感谢您的就诊，请花一分钟评价本次服务。"),
           dedupe_key=f"survey:{survey.id}:{owner_id}:{subject}"[:128],
           link=patient_url("h5.survey", survey_id=survey.id, subject=subject), payload={"subject": subject})
    return True


@dataclass(frozen=True)
class SurveyInvitation:
    survey: Survey
    subject: str          # the visit's or payment's order number
    invited_at: dt.datetime
    answered: bool


def survey_invitations(owner_id: int, limit: int = 50) -> list[SurveyInvitation]:
    """The account's invitations to active surveys (one per visit or payment), newest first."""
    from app.models import Notification

    notices = db.session.scalars(select(Notification).where(
        Notification.owner_id == owner_id, Notification.kind == "survey")
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)).all()
    found = []
    for notice in notices:
        # the dedupe key is survey:<id>:<owner>:<subject> (offer_survey)
        _, survey_id, _owner, subject = (notice.dedupe_key.split(":", 3) + ["", "", ""])[:4]
        subject = json.loads(notice.payload_json or "{}").get("subject") or subject
        survey = db.session.get(Survey, int(survey_id)) if survey_id.isdigit() else None
        if survey is None or not survey.is_active:
            continue
        found.append(SurveyInvitation(survey, subject, notice.created_at, answered(owner_id, survey, subject)))
    return found


def active_survey(survey_id: int | str) -> Survey:
    try:
        sid = int(survey_id)
    except (TypeError, ValueError):
        raise NotFound(_("调查不存在或已结束")) from None
    survey = db.session.get(Survey, sid)
    if survey is None or not survey.is_active:
        raise NotFound(_("调查不存在或已结束"))
    return survey


def invited(owner_id: int, survey: Survey, subject: str) -> bool:
    """Only an invited account answers: the invitation notice is the proof of a visit or payment."""
    from app.models import Notification

    key = f"survey:{survey.id}:{owner_id}:{subject}"[:128]
    return db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key,
                                                           Notification.owner_id == owner_id)) is not None


def answered(owner_id: int, survey: Survey, subject: str) -> bool:
    return db.session.scalar(select(SurveyResponse.id).where(
        SurveyResponse.survey_id == survey.id, SurveyResponse.owner_id == owner_id,
        SurveyResponse.subject == subject)) is not None


class SurveyInvalid(Conflict):
    status = 400

    def __init__(self, errors: dict[int, str]) -> None:
        super().__init__(next(iter(errors.values())), code="invalid_form")
        self.errors = errors


def answer_survey(owner_id: int, survey_id: int | str, subject: str, form: Mapping[str, str]) -> SurveyResponse:
    """Record one answer sheet per account, survey and visit/payment; a second one is refused."""
    survey = active_survey(survey_id)
    if not subject or not invited(owner_id, survey, subject):
        raise NotFound(_("调查不存在或已结束"))
    answers: dict[str, object] = {}
    errors: dict[int, str] = {}
    overall = None
    for q in survey.questions:
        raw = (form.get(f"q{q.id}") or "").strip()
        if not raw:
            if q.required:
                errors[q.id] = _("请回答此题")
            continue
        if q.kind == "rating":
            if raw not in {"1", "2", "3", "4", "5"}:
                errors[q.id] = _("请选择 1-5 分")
                continue
            answers[str(q.id)] = int(raw)
            overall = overall or int(raw)
        elif q.kind == "single":
            options = json.loads(q.options_json or "[]")
            if raw not in options:
                errors[q.id] = _("请选择一个选项")
                continue
            answers[str(q.id)] = raw
        else:
            answers[str(q.id)] = raw[:500]
    if errors:
        raise SurveyInvalid(errors)
    try:
        with unit_of_work():
            row = SurveyResponse(survey_id=survey.id, owner_id=owner_id, subject=subject[:64],
                                 answers_json=json.dumps(answers, ensure_ascii=False), overall=overall)
            db.session.add(row)
    except IntegrityError:
        raise Conflict(_("您已评价过本次服务，感谢参与")) from None
    return row
