"""The platform's domain model, one module per aggregate; importing this registers every table."""

import flask_appbuilder.security.sqla.models  # noqa: F401  (ab_user & co. share the metadata)

from app.models.appointments import AppointmentOrder
from app.models.audit import AuditLog, StateTransition
from app.models.bills import BillPayment, RefundItem
from app.models.deposits import DepositRefundPart, DepositRefundRequest
from app.models.notifications import Notification
from app.models.operations import (ApiNonce, ExportJob, FollowEvent, GuidanceRule, MessagePush,
                                   MessageTemplate, OperatorProfile, ReconciliationItem,
                                   ReconciliationRun, ServiceInstruction, Survey, SurveyQuestion,
                                   SurveyResponse, SystemSetting)
from app.models.patients import Patient
from app.models.payments import ChannelNotification, PaymentOrder, Refund
from app.models.schedules import Department, Doctor, Schedule, ScheduleSlice
from app.models.users import ChannelUser

__all__ = [
    "ApiNonce", "AppointmentOrder", "AuditLog", "BillPayment", "ChannelNotification", "ChannelUser", "Department",
    "DepositRefundPart", "DepositRefundRequest", "Doctor", "ExportJob", "FollowEvent", "GuidanceRule",
    "MessagePush", "MessageTemplate", "Notification", "OperatorProfile", "Patient", "PaymentOrder",
    "ReconciliationItem", "ReconciliationRun", "Refund", "RefundItem", "Schedule", "ScheduleSlice",
    "ServiceInstruction", "StateTransition", "Survey", "SurveyQuestion", "SurveyResponse", "SystemSetting",
]
