"""The platform's domain model, one module per aggregate; importing this registers every table."""

import flask_appbuilder.security.sqla.models  # noqa: F401  (ab_user & co. share the metadata)

from app.models.appointments import AppointmentOrder
from app.models.audit import AuditLog, StateTransition
from app.models.bills import BillPayment, BillPaymentItem, RefundItem
from app.models.deposits import DepositRefundPart, DepositRefundRequest
from app.models.maternity import CheckIn, ClassBooking, Pregnancy, PrenatalClass
from app.models.notifications import Notification
from app.models.operations import (ApiNonce, ExportJob, FollowEvent, GuidanceRule, HisCall, InspectionRecord,
                                   MessagePush,
                                   MessageTemplate, OperatorProfile, ReconciliationItem,
                                   ReconciliationRun, ServiceInstruction, Survey, SurveyQuestion,
                                   SurveyResponse, SystemSetting)
from app.models.outbox import OutboxTask
from app.models.patients import Patient
from app.models.payments import ChannelNotification, HisCheck, PaymentOrder, Refund
from app.models.rollups import (ActivityDayRollup, PaymentDayRollup, RollupDay, RollupPartial, RollupRun,
                                RollupStaleDay)
from app.models.security import AttemptCounter, PasswordHistory, RoleGrant
from app.models.schedules import Department, Doctor, Schedule, ScheduleSlice
from app.models.users import ChannelUser
from app.models.waitlist import WaitlistEntry
from app.operations.models import RepairRequest  # the operations domain's table

__all__ = [
    "ApiNonce", "AppointmentOrder", "AttemptCounter", "PasswordHistory", "RoleGrant",
    "AuditLog", "BillPayment", "BillPaymentItem", "ChannelNotification",
    "ChannelUser", "Department",
    "DepositRefundPart", "DepositRefundRequest", "Doctor", "ExportJob", "FollowEvent", "GuidanceRule", "HisCheck",
    "HisCall", "InspectionRecord", "MessagePush", "MessageTemplate", "Notification", "OperatorProfile", "OutboxTask",
    "Patient", "PaymentOrder",
    "ActivityDayRollup", "PaymentDayRollup", "RollupDay", "RollupPartial", "RollupRun", "RollupStaleDay",
    "ReconciliationItem", "ReconciliationRun", "Refund", "RefundItem", "RepairRequest", "Schedule", "ScheduleSlice",
    "ServiceInstruction", "StateTransition", "Survey", "SurveyQuestion", "SurveyResponse", "SystemSetting",
    # for mothers and children (issue 17)
    "CheckIn", "ClassBooking", "Pregnancy", "PrenatalClass", "WaitlistEntry",
]
