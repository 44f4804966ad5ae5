"""The hospital's staff roles and what each may see and press, as one readable table.

Each entry is (view-or-menu name regex, permission regex) matched against every permission that
Flask-AppBuilder registered; `flask roles sync` writes the result into the database roles, where
an administrator can still fine-tune them in 安全 > 角色列表.
"""

from __future__ import annotations

ADMIN = "Admin"
FINANCE = "Finance"
OPERATIONS = "Operations"
SERVICE_DESK = "Service desk"

_BASICS = [
    (r"UserInfoEditView|ResetMyPasswordView|UserDBModelView",
     r"can_this_form_get|can_this_form_post|can_userinfo|resetmypassword"),
    (r"LocaleView|UtilView", r".*"),
]

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    # Admin receives every permission from Flask-AppBuilder itself (AUTH_ROLE_ADMIN).
    FINANCE: _BASICS + [
        (r"PaymentOrderView|AppointmentOrderView", r"can_list|can_show|can_export"),
        (r"PaymentOrderView", r"can_resolve_his"),
        (r"RefundView|StatisticsView|ReconciliationRunView|ReconciliationItemView|ExportJobView|AnalyticsView|"
         r"ReconciliationDeskView",
         r".*"),
        (r"OrderTraceView", r"can_search"),
        (r"预约订单|缴费订单|退费记录|交易统计|对账记录|对账差异|报表下载|数据分析|统计分析|订单管理|财务|订单全链路|"
         r"对账工作台",
         r"menu_access"),
    ],
    OPERATIONS: _BASICS + [
        (r"AuditLogView", r"can_list|can_show"),  # the export is the administrator's (issue 15)
        (r"HealthView|InspectionView|NotificationView|SystemSettingView|MessageTemplateView|"
         r"GuidanceRuleView|SurveyView|SurveyQuestionView|ServiceInstructionView|DepartmentView|DoctorView|PrenatalClassView|"
         r"ScheduleView|ReconciliationRunView|AnalyticsView|MessagePushView|FollowEventView|SurveyResponseView",
         r".*"),
        (r"审计日志|健康检查|巡检报告|消息发送|系统设置|消息模板|导诊规则|满意度调查|服务说明|系统配置|科室|医生|排班|"
         r"运维|对账记录|数据分析|统计分析|基础数据|消息|推送记录|关注事件|调查结果|孕妇学校课程", r"menu_access"),
        (r"OrderTraceView", r"can_search"),
        (r"订单全链路|订单管理", r"menu_access"),
    ],
    SERVICE_DESK: _BASICS + [
        (r"AppointmentOrderView|PaymentOrderView|PatientView|NotificationView", r"can_list|can_show"),
        (r"MessagePushView", r"can_list|can_show"),
        (r"消息|推送记录|内容", r"menu_access"),
        (r"AppointmentOrderView", r"can_cancel_order|can_mark_attendance"),
        (r"DepartmentView|DoctorView|ScheduleView", r"can_list|can_show"),
        (r"OrderTraceView", r"can_search"),
        (r"订单管理|预约订单|缴费订单|就诊人|消息发送|基础数据|科室|医生|排班|订单全链路", r"menu_access"),
    ],
}

STAFF_ROLES = (ADMIN, FINANCE, OPERATIONS, SERVICE_DESK)
