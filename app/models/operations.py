"""Operations and configuration: reconciliation, exports, replay guards, settings, content, surveys,
message templates and pushes, follow events, 导诊 rules, operator profiles."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from app.models.base import TimestampMixin, utcnow


class ReconciliationRun(TimestampMixin, Model):
    """Reconciliation (对账) of one channel's bill for one day against our orders."""

    __tablename__ = "reconciliation_run"
    __table_args__ = (UniqueConstraint("channel", "bill_date", name="uq_reconciliation_channel_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    bill_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="queued", nullable=False)
    progress: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # percent
    channel_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    channel_total_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    local_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    local_total_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    mismatch_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ReconciliationItem(Model):
    """One difference found: missing on our side, missing at the channel, or amounts that differ."""

    __tablename__ = "reconciliation_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_run.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    order_no: Mapped[str | None] = mapped_column(String(32))
    channel_trade_no: Mapped[str | None] = mapped_column(String(64))
    local_amount_fen: Mapped[int | None] = mapped_column(Integer)
    channel_amount_fen: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(255))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # who reports the difference: the channel's bill or the HIS (three-way reconciliation)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="channel", server_default="channel")
    evidence: Mapped[str | None] = mapped_column(Text)  # both sides' records (JSON): what finance checks

    run: Mapped[ReconciliationRun] = relationship(backref=backref("items", lazy="dynamic"))


class ExportJob(TimestampMixin, Model):
    """A report export (.xlsx) built by Huey; staff watch ``progress`` and download the file."""

    __tablename__ = "export_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    params_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", nullable=False)
    progress: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    row_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    file_path: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class ApiNonce(Model):
    """Nonces seen on signed inbound calls (HIS API, events): a replay is refused by the unique key."""

    __tablename__ = "api_nonce"

    id: Mapped[int] = mapped_column(primary_key=True)
    caller: Mapped[str] = mapped_column(String(32), nullable=False)
    nonce: Mapped[str] = mapped_column(String(64), nullable=False)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)

    __table_args__ = (
        UniqueConstraint("caller", "nonce", name="uq_api_nonce_caller_nonce"),
        Index("ix_api_nonce_seen", "seen_at"),
    )


class SystemSetting(Model):
    """A setting operations staff may change at run time (e.g. booking window, reminder hour)."""

    __tablename__ = "system_setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))

    #: how staff read a value (是/否 for a yes/no setting); the settings registry installs it, since the
    #: models know no registry (import contracts: models sit below the domain)
    display = staticmethod(lambda key, value: value)

    def shown_value(self) -> str:
        """The value as staff read it: 是/否 for a yes/no setting, else as stored."""
        return SystemSetting.display(self.key, self.value)


class ServiceInstruction(TimestampMixin, Model):
    """就诊须知 / 服务说明 pages shown in the personal centre, edited in the back-office."""

    __tablename__ = "service_instruction"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    sort: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    is_published: Mapped[int] = mapped_column(Integer, default=1, nullable=False)


class Survey(TimestampMixin, Model):
    """满意度调查 questionnaire configured in the back-office, offered after a visit or a payment."""

    __tablename__ = "survey"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    trigger: Mapped[str] = mapped_column(String(16), default="visit", nullable=False)  # visit | payment
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    questions: Mapped[list["SurveyQuestion"]] = relationship(order_by="SurveyQuestion.sort",
                                                             cascade="all, delete-orphan",
                                                             back_populates="survey")

    def __repr__(self) -> str:
        return self.title


class SurveyQuestion(Model):
    __tablename__ = "survey_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id"), nullable=False, index=True)
    sort: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # single | rating | text
    text: Mapped[str] = mapped_column(String(255), nullable=False)
    options_json: Mapped[str | None] = mapped_column(Text)  # ["满意", "一般", "不满意"] for single
    required: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    survey: Mapped[Survey] = relationship(back_populates="questions")

    def __repr__(self) -> str:
        return f"{self.sort}. {self.text}"


class SurveyResponse(TimestampMixin, Model):
    """One answer sheet per account per visit/payment (``subject``) and survey."""

    __tablename__ = "survey_response"
    __table_args__ = (UniqueConstraint("survey_id", "owner_id", "subject", name="uq_survey_once_per_subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)  # order no of the visit or payment
    answers_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    overall: Mapped[int | None] = mapped_column(Integer)  # the first rating answer, for statistics


class MessageTemplate(TimestampMixin, Model):
    """How one kind of notice is pushed on one channel: template id, field mapping, link."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("kind", "channel", name="uq_message_template_kind_channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    template_id: Mapped[str] = mapped_column(String(128), nullable=False)
    field_map_json: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    link_pattern: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)


class MessagePush(Model):
    """One attempt to push a notification through a channel (or its sandbox), for staff to inspect."""

    __tablename__ = "message_push"
    __table_args__ = (Index("ix_message_push_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id"), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    template_id: Mapped[str | None] = mapped_column(String(128))
    request_json: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class FollowEvent(Model):
    """关注 / 取消关注 of the 服务号 or 服务窗, as the channel reported it; feeds follower analytics."""

    __tablename__ = "follow_event"
    __table_args__ = (Index("ix_follow_event_channel_at", "channel", "at"), Index("ix_follow_event_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    channel_uid: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[str] = mapped_column(String(16), nullable=False)  # subscribe | unsubscribe
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class GuidanceRule(TimestampMixin, Model):
    """导诊 mapping staff edit: an item category or name keyword -> where the patient goes next."""

    __tablename__ = "guidance_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_category: Mapped[str | None] = mapped_column(String(32))  # 西药 / 检验 / 检查 / 治疗 …
    match_keyword: Mapped[str | None] = mapped_column(String(64))
    guidance: Mapped[str] = mapped_column(String(255), nullable=False)
    sort: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class OperatorProfile(Model):
    """What the back-office needs about an operator beyond Flask-AppBuilder's user row."""

    __tablename__ = "operator_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), unique=True, nullable=False)
    department: Mapped[str | None] = mapped_column(String(64))  # 财务科 / 信息科 / 门诊部
    phone: Mapped[str | None] = mapped_column(String(20))  # to reach the operator (shown masked in lists)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Security (issue 15): lockout, session revocation, password age, the TOTP second factor.
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(255))  # encrypted with the app's key
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    recovery_codes: Mapped[str | None] = mapped_column(Text)  # JSON list of hashes, each used once

    # User.operator_profile lets the operator list show and sort by department (no schema change).
    user = relationship("User", backref=backref("operator_profile", uselist=False))


class InspectionRecord(Model):
    """A 巡检报告 kept as it was on the day (the hospital files and compares them quarter by quarter)."""

    __tablename__ = "inspection_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, index=True)
    since: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    problem_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    findings_json: Mapped[str] = mapped_column(Text, nullable=False)
    volumes_json: Mapped[str] = mapped_column(Text, nullable=False)
    saved_by: Mapped[str | None] = mapped_column(String(64))


class HisCall(Model):
    """One call the platform made to the HIS about an order, and its answer (订单全链路's HIS steps)."""

    __tablename__ = "his_call"
    __table_args__ = (Index("ix_his_call_ref", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    method: Mapped[str] = mapped_column(String(48), nullable=False)
    ref: Mapped[str] = mapped_column(String(64), nullable=False)  # order no., trade no. or refund no.
    request: Mapped[str | None] = mapped_column(Text)   # the arguments that identify the call (no personal data)
    outcome: Mapped[str] = mapped_column(String(64), nullable=False)  # ok | refused:<code> | unavailable | error
    answer: Mapped[str | None] = mapped_column(Text)    # the HIS's answer or its error, shortened
    duration_ms: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
