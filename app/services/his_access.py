"""The platform's single way to reach the HIS (simulator or HTTP), built from configuration, and the
one place where the HIS's refusals become words a patient or a clerk understands."""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from app.his import HisGateway, make_his
from app.his.errors import HisError


def his_gateway() -> HisGateway:
    """The configured HIS gateway (one per app; gateways hold no patient state)."""
    gateway = current_app.extensions.get("his_gateway")
    if gateway is None:
        from app.operations.his_journal import journal_his
        from app.operations.metrics import instrument_his

        gateway = instrument_his(make_his(current_app.config))  # latency and errors per method
        gateway = journal_his(gateway)  # what was asked about each order, and the answer (订单全链路)
        current_app.extensions["his_gateway"] = gateway
    return gateway


def his_refusal(exc: HisError) -> str:
    """A clear Chinese sentence for anything the HIS answered with (never its own, English, words).

    The code is the contract's (docs/his-api.md); an unknown code still reads as a refusal, with the
    code for the service desk to quote.
    """
    messages = {
        "slot_full": _("号源已被约满，请选择其他时段"),
        "schedule_stopped": _("该医生本时段已停诊，请选择其他医生或时段"),
        "already_booked": _("该就诊人在本时段已有医院的预约（可能已在窗口挂号），无需重复预约"),
        "lock_expired": _("号源锁定已超时，请重新预约"),
        "amount_mismatch": _("金额与医院系统不一致，请刷新后重试"),
        "already_settled": _("该费用已在医院缴纳或已退费，无需再次支付"),
        "card_mismatch": _("信息核验未通过：请核对姓名、身份证号与就诊卡号是否与医院登记一致"),
        "not_found": _("医院系统中找不到相关记录，请到门诊服务台咨询"),
        "invalid_request": _("医院系统不接受本次操作，请到门诊服务台咨询"),
        "his_unavailable": _("医院系统暂时无法连接，请稍后再试"),
        "unauthorized": _("医院系统暂时无法连接，请稍后再试"),
    }
    return messages.get(exc.code) or _("医院系统未能办理本次操作（代码 %(code)s），请到门诊服务台咨询", code=exc.code)
