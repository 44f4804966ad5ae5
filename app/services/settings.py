"""Run-time settings operations staff may change (SystemSetting rows), read with typed defaults.

``REGISTRY`` is the one list of settings: key, type, range, default and the Chinese label staff read.
The back-office validator (app/services/configuration.py), the readers below and the demo seed all
take it from here, and a reader asked for a key that is not registered fails at once (KeyError).

A missing or unreadable value falls back to its default (and is logged), so a typo in the
back-office never takes registration down.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.maternity.rules import DEFAULT_CHILD_PLAN, DEFAULT_PRENATAL_PLAN
from app.models import SystemSetting

log = logging.getLogger("settings")


@dataclass(frozen=True)
class Setting:
    """One setting staff may change. ``kind``: int (low..high), bool (1/0), time (HH:MM), hours
    (HH:MM-HH:MM, may wrap midnight), yuan (an amount), location ("lat,lng"), codes (comma list),
    code (one code), plan (one visit a line), roles (comma list of role names)."""

    key: str
    kind: str
    default: str
    label: object  # lazy Chinese
    low: int | None = None
    high: int | None = None
    seeded: bool = True  # written by the demo seed (long texts are left to their default)


REGISTRY: dict[str, Setting] = {s.key: s for s in (
    Setting("booking.days_ahead", "int", "7", _l("可预约天数"), 1, 60),
    Setting("booking.release_time", "time", "08:00", _l("每日放号时间（最远一天的号源此时开放）")),
    Setting("booking.same_day", "bool", "1", _l("开放当天挂号")),
    Setting("booking.advance", "bool", "1", _l("开放预约挂号")),
    Setting("booking.pay_minutes", "int", "15", _l("预约后支付时限（分钟）"), 1, 120),
    Setting("booking.cancel_before_minutes", "int", "60", _l("就诊前多少分钟停止网上取消"), 0, 1440),
    Setting("booking.max_active_per_patient", "int", "3", _l("每位就诊人最多有效预约数"), 1, 50),
    Setting("booking.no_show_limit", "int", "3", _l("爽约次数达到此数暂停预约"), 1, 20),
    Setting("booking.no_show_window_days", "int", "90", _l("统计爽约的天数"), 1, 365),
    Setting("booking.no_show_bar_days", "int", "30", _l("爽约后暂停预约天数"), 0, 365),
    Setting("booking.attendance_grace_minutes", "int", "60",
            _l("出诊结束后多少分钟向医院确认就诊情况（未签到记为爽约）"), 0, 720),
    Setting("booking.attendance_lookback_days", "int", "7", _l("向医院确认就诊情况时回溯的天数"), 1, 31),
    Setting("reminder.quiet_hours", "hours", "22:00-08:00", _l("待缴费提醒免打扰时段（北京时间，可跨零点）")),
    Setting("deposit.min_yuan", "yuan", "100", _l("住院押金单次最低缴纳金额（元）")),
    Setting("deposit.max_yuan", "yuan", "50000", _l("住院押金单次最高缴纳金额（元）")),
    Setting("inpatient.balance_warning_yuan", "yuan", "1000", _l("押金余额低于此金额时提醒补缴（元）")),
    Setting("patients.max_per_account", "int", "5", _l("每个账号最多绑定的就诊人数"), 1, 10),
    # for mothers and children (issue 17)
    Setting("departments.order", "codes", "OB,PD,CH,NB,GY,BR,RH,DN,FP",
            _l("科室显示顺序（科室代码，逗号分隔；产科、儿科在前）")),
    Setting("queue.remind_ahead", "int", "3", _l("叫号提醒：前面还有几人时提醒"), 1, 20),
    Setting("waitlist.max_per_patient", "int", "3", _l("每位就诊人最多同时候补的时段数"), 1, 10),
    Setting("waitlist.cutoff_minutes", "int", "60", _l("候补截止：出诊最后一个时段开始前多少分钟"), 0, 720),
    Setting("checkin.before_minutes", "int", "60", _l("诊前签到：就诊时段开始前多少分钟可签到"), 0, 240),
    Setting("checkin.location_check", "bool", "0", _l("诊前签到是否校验位置")),
    Setting("checkin.max_distance_m", "int", "1000", _l("诊前签到：距离医院多少米内可签到"), 50, 50000),
    Setting("hospital.location", "location", "22.1707,111.7913", _l("医院位置（纬度,经度），用于签到位置校验")),
    Setting("pregnancy.department", "code", "OB01", _l("产检一键预约的科室代码")),
    Setting("pregnancy.remind_days_before", "int", "7", _l("产检提醒：每次产检时间开始前多少天提醒"), 0, 30),
    Setting("pregnancy.plan", "plan", DEFAULT_PRENATAL_PLAN, _l("产检计划（每行 时间|名称|检查项目）"),
            seeded=False),
    Setting("child_health.department", "code", "CH01", _l("儿保一键预约的科室代码（儿童保健门诊）")),
    Setting("child_health.remind_days_before", "int", "7", _l("儿保提醒：每次体检到期前多少天提醒"), 0, 60),
    Setting("child_health.plan", "plan", DEFAULT_CHILD_PLAN, _l("儿保计划（每行 时间|名称|检查项目）"),
            seeded=False),
    # staff security (issue 15)
    Setting("security.lockout_failures", "int", "5", _l("连续输错密码多少次锁定账号"), 3, 10, seeded=False),
    Setting("security.lockout_minutes", "int", "30", _l("账号锁定多少分钟后自动解锁"), 5, 1440, seeded=False),
    Setting("security.password_expiry_days", "int", "90", _l("密码有效天数（0 为不过期）"), 0, 365, seeded=False),
    Setting("security.staff_idle_minutes", "int", "30", _l("后台无操作多少分钟后重新登录"), 5, 120, seeded=False),
    Setting("security.staff_session_hours", "int", "12", _l("后台登录最长有效小时数"), 1, 24, seeded=False),
    Setting("security.totp_required_roles", "roles", "Admin,Finance", _l("须启用双因素认证的角色（逗号分隔）"),
            seeded=False),
    Setting("audit.retention_days", "int", "180", _l("审计日志保留天数（至少 180 天）"), 180, 3650, seeded=False),
    # housekeeping: the outbox's finished rows (app/outbox.py purge_done, nightly); as long as the audit trail,
    # since 订单全链路 shows them and a patient's complaint about an old order comes weeks or months later
    Setting("outbox.retention_days", "int", "180",
            _l("已完成的后台任务记录保留天数（每晚删除更早的；未完成和失败的不删）"), 1, 3650),
)}
#: what the demo seed stores instead of the default: demo staff sign in with the README's passwords alone
#: (production refuses to start with demo accounts, and without the row keeps TOTP_REQUIRED_ROLES)
DEMO_VALUES = {"security.totp_required_roles": "none"}
#: keys an earlier version offered that nothing reads: removed from demo databases by the seed
RETIRED = ("booking.window_days", "booking.cancel_deadline", "booking.cancel_hours_before", "booking.max_active",
           "booking.same_day_enabled", "payment.timeout_minutes", "reminder.unpaid_hour")


#: how staff say "no role" in a list of roles
NO_ROLES = ("none", "无")


def shown_value(key: str, value: str | None) -> str:
    """A stored value as staff read it on the settings page (是/否 for yes/no settings)."""
    entry = REGISTRY.get(key)
    if entry is not None and entry.kind == "bool" and value is not None:
        text = value.strip().lower()
        return str(_l("是") if text in TRUE else _l("否") if text in FALSE else value)
    if entry is not None and entry.kind == "roles" and (value or "").strip().lower() in NO_ROLES:
        return str(_l("无"))
    return value or ""


SystemSetting.display = staticmethod(shown_value)


def _entry(key: str) -> Setting:
    """The registered setting (KeyError for a key nobody registered: a reader cannot drift)."""
    return REGISTRY[key]


def _raw(prefix: str) -> dict[str, str]:
    rows = db.session.execute(select(SystemSetting.key, SystemSetting.value)
                              .where(SystemSetting.key.like(f"{prefix}%"))).all()
    return {key: value for key, value in rows}


def _int(values: dict[str, str], key: str, default: int | None = None, minimum: int | None = None) -> int:
    entry = _entry(key)
    default = int(entry.default) if default is None else default
    minimum = (entry.low or 0) if minimum is None else minimum
    text = values.get(key)
    if text is None:
        return default
    try:
        number = int(str(text).strip())
    except ValueError:
        log.warning("setting %s=%r is not a whole number; using %s", key, text, default)
        return default
    return max(number, minimum)  # the back-office refuses values out of range; an old row is kept


TRUE = ("1", "true", "yes", "on", "是", "开", "开放")
FALSE = ("0", "false", "no", "off", "否", "关", "关闭")


def _bool(values: dict[str, str], key: str, default: bool | None = None) -> bool:
    entry = _entry(key)
    default = entry.default == "1" if default is None else default
    text = values.get(key)
    if text is None:
        return default
    text = str(text).strip().lower()
    if text not in TRUE + FALSE:
        log.warning("setting %s=%r is not 1/0; using %s", key, text, default)
        return default
    return text in TRUE


def _time(values: dict[str, str], key: str, default: dt.time | None = None) -> dt.time:
    if default is None:
        hour, minute = _entry(key).default.split(":")
        default = dt.time(int(hour), int(minute))
    text = values.get(key)
    if text is None:
        return default
    try:
        hour, minute = (int(part) for part in str(text).strip().split(":"))
        return dt.time(hour, minute)
    except ValueError:
        log.warning("setting %s=%r is not HH:MM; using %s", key, text, default)
        return default


@dataclass(frozen=True)
class BookingRules:
    """The configurable registration rules (keys ``booking.*``; defaults in brackets)."""

    days_ahead: int = 7                 # booking.days_ahead: advance booking up to N days ahead [7]
    release_time: dt.time = dt.time(8, 0)  # booking.release_time: the newest day opens at HH:MM [08:00]
    same_day: bool = True               # booking.same_day: 当天挂号 allowed [1]
    advance: bool = True                # booking.advance: 预约挂号 (future days) allowed [1]
    pay_minutes: int = 15               # booking.pay_minutes: time to pay before the slot is released [15]
    cancel_before_minutes: int = 60     # booking.cancel_before_minutes: cancel until N min before the slot [60]
    max_active: int = 3                 # booking.max_active_per_patient [3]
    no_show_limit: int = 3              # booking.no_show_limit: this many no-shows ... [3]
    no_show_window_days: int = 90       # booking.no_show_window_days: ... within N days ... [90]
    no_show_bar_days: int = 30          # booking.no_show_bar_days: ... bar booking for N days [30]
    attendance_grace_minutes: int = 60  # booking.attendance_grace_minutes: a session is over N min after
                                        # its last slice ends; only then is a booking 爽约 [60]
    attendance_lookback_days: int = 7   # booking.attendance_lookback_days: the sweep asks the HIS about
                                        # clinic days up to N days back [7]


def booking_rules() -> BookingRules:
    """The booking rules as configured now; defaults and ranges from the registry.

    Every booking asks, so each process keeps the parsed rules for ``SETTINGS_CACHE_SECONDS`` (5 by
    default, 0 reads every time) instead of a query and a parse per booking. A change made in this
    process (the back-office's settings page, ``set_value``, any ORM write of a setting) is seen at once:
    the transaction that wrote it reads its own rows, and its commit or rollback forgets the kept copy.
    Another process or node sees a change within those seconds (a booking decided by the old rule
    during them is one staff could have got a moment before the change)."""
    seconds = current_app.config.get("SETTINGS_CACHE_SECONDS", 5)
    if not seconds or db.session.info.get(_WRITTEN):
        return _read_booking_rules()
    kept = current_app.extensions.setdefault("booking_rules", {})
    now, version = _monotonic(), _VERSION[0]
    entry = kept.get("rules")
    if entry is not None and entry[1] == version and entry[0] > now:
        return entry[2]
    rules = _read_booking_rules()
    kept["rules"] = (now + seconds, version, rules)  # a change meanwhile bumped the version: not served
    return rules


def _read_booking_rules() -> BookingRules:
    values = _raw("booking.")
    return BookingRules(
        days_ahead=_int(values, "booking.days_ahead"),
        release_time=_time(values, "booking.release_time"),
        same_day=_bool(values, "booking.same_day"),
        advance=_bool(values, "booking.advance"),
        pay_minutes=_int(values, "booking.pay_minutes"),
        cancel_before_minutes=_int(values, "booking.cancel_before_minutes"),
        max_active=_int(values, "booking.max_active_per_patient"),
        no_show_limit=_int(values, "booking.no_show_limit"),
        no_show_window_days=_int(values, "booking.no_show_window_days"),
        no_show_bar_days=_int(values, "booking.no_show_bar_days"),
        attendance_grace_minutes=_int(values, "booking.attendance_grace_minutes"),
        attendance_lookback_days=_int(values, "booking.attendance_lookback_days"),
    )


_monotonic = time.monotonic  # the kept copy's age is real time, not the hospital clock tests move
#: bumped whenever a setting may have changed in this process: a kept copy of an older version is not served
_VERSION = [0]
#: ``session.info`` flag: this transaction wrote a setting (it reads its own rows until it ends)
_WRITTEN = "settings_written"


def forget_kept_settings() -> None:
    """Drop every process-kept copy of the settings (a setting changed; tests that empty the tables)."""
    _VERSION[0] += 1


def _written(session: Session) -> None:
    session.info[_WRITTEN] = True
    forget_kept_settings()


@event.listens_for(Session, "after_flush")
def _note_settings_flushed(session: Session, _flush_context) -> None:
    if any(isinstance(obj, SystemSetting) for group in (session.new, session.dirty, session.deleted)
           for obj in group):
        _written(session)


@event.listens_for(Session, "do_orm_execute")
def _note_settings_bulk_write(state) -> None:
    if not state.is_select and getattr(getattr(state.statement, "table", None), "name", None) == "system_setting":
        _written(state.session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_ended(session: Session) -> None:
    if session.info.pop(_WRITTEN, False):
        forget_kept_settings()


def set_value(key: str, value: str, by: str = "system") -> None:
    """Write one setting in the caller's unit of work (tests and the demo seed use it)."""
    _written(db.session)
    row = db.session.scalar(select(SystemSetting).where(SystemSetting.key == key))
    if row is None:
        db.session.add(SystemSetting(key=key, value=value, updated_by=by))
    else:
        row.value, row.updated_by = value, by


_HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")


def setting_text(key: str, default: str | None = None) -> str:
    """The stored value of ``key`` (stripped), or its default when there is none."""
    default = _entry(key).default if default is None else default
    value = db.session.scalar(select(SystemSetting.value).where(SystemSetting.key == key))
    return default if value is None or not value.strip() else value.strip()


def setting_int(key: str) -> int:
    """A whole-number setting: the stored value (raised to its registered minimum), else its default."""
    value = db.session.scalar(select(SystemSetting.value).where(SystemSetting.key == key))
    return _int({} if value is None else {key: value}, key)


def setting_fen_default(key: str) -> int:
    """The registered default of a money setting, in fen."""
    from app.services.money import parse_yuan

    return parse_yuan(_entry(key).default)


def setting_fen(key: str, default_fen: int | None = None) -> int:
    """A money setting stored in yuan (e.g. "100" or "99.50"), as integer fen."""
    from app.services.money import parse_yuan

    if default_fen is None:
        default_fen = parse_yuan(_entry(key).default)
    raw = setting_text(key, "")
    if not raw:
        return default_fen
    fen = parse_yuan(raw)
    if fen is None:
        log.error("setting %s=%r is not an amount in yuan; using %s fen", key, raw, default_fen)
        return default_fen
    return fen


def setting_hours(key: str, default: str | None = None) -> tuple[dt.time, dt.time]:
    """A time window "HH:MM-HH:MM" (may wrap midnight, e.g. "22:00-08:00")."""
    default = _entry(key).default if default is None else default
    raw = setting_text(key, default).replace(" ", "")
    match = _HOURS.match(raw)
    if match is None:
        log.error("setting %s=%r is not HH:MM-HH:MM; using %s", key, raw, default)
        match = _HOURS.match(default)
        assert match is not None, default
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return dt.time(h1, m1), dt.time(h2, m2)


def in_window(moment: dt.time, window: tuple[dt.time, dt.time]) -> bool:
    """True when ``moment`` lies in [start, end), the window possibly wrapping past midnight."""
    start, end = window
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


@dataclass(frozen=True)
class SecurityRules:
    """Staff security settings (keys ``security.*``; defaults in brackets)."""

    lockout_failures: int = 5          # security.lockout_failures: wrong passwords in a row that lock [5]
    lockout_minutes: int = 30          # security.lockout_minutes: a lock ends by itself after N min [30]
    password_expiry_days: int = 90     # security.password_expiry_days: 0 = never [90]
    staff_idle_minutes: int = 30       # security.staff_idle_minutes: idle staff sign in again [30]
    staff_session_hours: int = 12      # security.staff_session_hours: absolute session lifetime [12]
    totp_required_roles: tuple[str, ...] = ("Admin", "Finance")  # security.totp_required_roles [Admin,Finance]


def security_rules() -> SecurityRules:
    """The staff security settings as configured now (one query a request: every staff page asks)."""
    from flask import g, has_request_context

    cached = g.get("_security_rules") if has_request_context() else None
    if cached is not None:
        return cached
    rules = _security_rules()
    if has_request_context():
        g._security_rules = rules
    return rules


def _security_rules() -> SecurityRules:
    from flask import current_app

    values = _raw("security.")
    d = SecurityRules()
    # Without the setting, the configuration decides (production: Admin,Finance; tests: nobody).
    roles = values.get("security.totp_required_roles", current_app.config.get("TOTP_REQUIRED_ROLES"))
    return SecurityRules(
        lockout_failures=_int(values, "security.lockout_failures", d.lockout_failures, 1),
        lockout_minutes=_int(values, "security.lockout_minutes", d.lockout_minutes, 1),
        password_expiry_days=_int(values, "security.password_expiry_days", d.password_expiry_days, 0),
        staff_idle_minutes=_int(values, "security.staff_idle_minutes", d.staff_idle_minutes, 1),
        staff_session_hours=_int(values, "security.staff_session_hours", d.staff_session_hours, 1),
        totp_required_roles=d.totp_required_roles if roles is None else
        tuple(r.strip() for r in roles.replace("，", ",").split(",")
              if r.strip() and r.strip().lower() not in NO_ROLES),
    )
