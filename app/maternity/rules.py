"""Pure rules of the two journeys: gestational age, the 产检 plan of the national 孕产期保健 guidance,
the 儿保 plan by age, and which visit is due. Dates in, dates out; no database, no clock."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

GESTATION_DAYS = 280            # Naegele: EDD = LMP + 280 days
MAX_LMP_WEEKS = 44              # an LMP further back is a typo or a pregnancy that has ended
MAX_DUE_AHEAD_DAYS = GESTATION_DAYS

#: the 产检 plan of the national guidance (孕前和孕期保健指南): first visit and 建档 before 13+6 weeks,
#: then by stage, weekly from 37 weeks. One line per visit: "from-to weeks|name|what is checked".
#: The hospital's own plan replaces it through the setting ``pregnancy.plan`` in the same format.
DEFAULT_PRENATAL_PLAN = """\
6-13|首次产检（建档）|建立母子健康手册；血常规、血型、肝肾功能、乙肝/梅毒/艾滋病筛查；早孕超声；NT（11-13+6 周）
14-19|第 2 次产检|早中孕期唐氏筛查或无创 DNA；血压、体重、宫高、胎心
20-24|第 3 次产检|胎儿系统超声筛查（大排畸）；血常规、尿常规
25-28|第 4 次产检|妊娠期糖尿病筛查（75g OGTT）；血常规、尿常规
29-32|第 5 次产检|产科超声（胎儿生长、羊水、胎位）；血常规、尿常规
33-36|第 6 次产检|B 族链球菌筛查（35-37 周）；肝功能、胆汁酸；尿常规
37-37|第 7 次产检（孕 37 周）|胎心监护（NST）；超声评估；宫颈评估
38-38|第 8 次产检（孕 38 周）|胎心监护（NST）；分娩方式评估
39-39|第 9 次产检（孕 39 周）|胎心监护（NST）
40-40|第 10 次产检（孕 40 周）|胎心监护；超声评估羊水
41-41|第 11 次产检（孕 41 周）|评估宫颈，计划住院引产"""

#: the 儿保 plan by age (新生儿访视, 满月/42 天, 3, 6, 8, 12, 18, 24, 30, 36 months, then yearly to 6 years).
#: One line per check: "age|name|what is checked"; age is Nd (days), Nm (months) or Ny (years).
DEFAULT_CHILD_PLAN = """\
7d|新生儿访视|体重、黄疸、脐部、喂养与护理指导
42d|满月体检（42 天）|体格测量、发育评估、喂养指导
3m|3 月龄体检|体格测量、发育评估、维生素 D 补充
6m|6 月龄体检|体格测量、血红蛋白、辅食添加指导
8m|8 月龄体检|体格测量、发育评估、口腔检查
12m|12 月龄体检|体格测量、血红蛋白、听力与视力筛查
18m|18 月龄体检|体格测量、发育评估、口腔检查
24m|24 月龄体检|体格测量、血红蛋白、视力筛查
30m|30 月龄体检|体格测量、发育与语言评估
36m|36 月龄体检|体格测量、视力筛查、口腔检查
4y|4 岁体检|体格测量、视力、口腔
5y|5 岁体检|体格测量、视力、口腔
6y|6 岁体检|体格测量、视力、口腔、入学前评估"""

_WEEKS = re.compile(r"^(\d{1,2})-(\d{1,2})$")
_AGE = re.compile(r"^(\d{1,3})([dmy])$")


@dataclass(frozen=True)
class PlanVisit:
    """One visit of a plan. Prenatal: ``start``/``end`` are weeks (inclusive: 20-24 means 20+0 to
    24+6). Child: ``age`` is (number, unit) and ``start``/``end`` are unused."""

    key: str
    name: str
    items: str
    start: int = 0
    end: int = 0
    age: tuple[int, str] = (0, "d")


@dataclass(frozen=True)
class ScheduledVisit:
    """A plan visit placed on the calendar: the dates in which it should happen."""

    visit: PlanVisit
    opens: dt.date
    closes: dt.date
    due: dt.date          # the date it is aimed at (the window's start for 产检, the age for 儿保)


class PlanError(ValueError):
    """A plan setting that cannot be read (the line says which)."""


def _lines(text: str) -> list[list[str]]:
    rows = []
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2 or not parts[1]:
            raise PlanError(f"line {number}: expected 'when|name|items'")
        rows.append([parts[0], parts[1], parts[2] if len(parts) > 2 else "", str(number)])
    return rows


def parse_prenatal_plan(text: str) -> tuple[PlanVisit, ...]:
    """The 产检 plan from its setting text; raises PlanError for a line it cannot read."""
    visits = []
    for when, name, items, number in _lines(text):
        match = _WEEKS.match(when)
        if match is None:
            raise PlanError(f"line {number}: weeks must be 'from-to', e.g. 20-24")
        start, end = int(match.group(1)), int(match.group(2))
        if not 4 <= start <= end <= 42:
            raise PlanError(f"line {number}: weeks must lie between 4 and 42, from <= to")
        visits.append(PlanVisit(key=f"w{start}-{end}", name=name, items=items, start=start, end=end))
    if not visits:
        raise PlanError("the plan has no visit")
    return tuple(sorted(visits, key=lambda v: (v.start, v.end)))


def parse_child_plan(text: str) -> tuple[PlanVisit, ...]:
    """The 儿保 plan from its setting text; raises PlanError for a line it cannot read."""
    visits = []
    for when, name, items, number in _lines(text):
        match = _AGE.match(when)
        if match is None:
            raise PlanError(f"line {number}: age must be like 7d, 6m or 4y")
        visits.append(PlanVisit(key=when, name=name, items=items, age=(int(match.group(1)), match.group(2))))
    if not visits:
        raise PlanError("the plan has no check")
    ordering = {"d": 1, "m": 30, "y": 365}
    return tuple(sorted(visits, key=lambda v: v.age[0] * ordering[v.age[1]]))


# -- pregnancy -----------------------------------------------------------------------------------

def due_from_lmp(lmp: dt.date) -> dt.date:
    return lmp + dt.timedelta(days=GESTATION_DAYS)


def lmp_from_due(due: dt.date) -> dt.date:
    return due - dt.timedelta(days=GESTATION_DAYS)


def gestational_age(lmp: dt.date, day: dt.date) -> tuple[int, int]:
    """(weeks, days) of pregnancy on ``day`` counted from the LMP, e.g. (24, 3) for 24+3."""
    days = (day - lmp).days
    return max(days, 0) // 7, max(days, 0) % 7


def lmp_problem(lmp: dt.date, today: dt.date) -> str | None:
    """Why an LMP cannot be right ('future' or 'too_old'), or None."""
    if lmp > today:
        return "future"
    if (today - lmp).days > MAX_LMP_WEEKS * 7:
        return "too_old"
    return None


def due_problem(due: dt.date, today: dt.date) -> str | None:
    """Why a due date cannot be right ('past' or 'too_far'), or None."""
    if due < today:
        return "past"
    if (due - today).days > MAX_DUE_AHEAD_DAYS:
        return "too_far"
    return None


def prenatal_schedule(lmp: dt.date, plan: tuple[PlanVisit, ...]) -> list[ScheduledVisit]:
    """Each 产检 of the plan with its dates: from ``start``+0 to ``end``+6 weeks."""
    return [ScheduledVisit(v, lmp + dt.timedelta(weeks=v.start), lmp + dt.timedelta(weeks=v.end, days=6),
                           lmp + dt.timedelta(weeks=v.start)) for v in plan]


# -- child health ------------------------------------------------------------------------------

def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it has fewer days)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_date(birth: dt.date, age: tuple[int, str]) -> dt.date:
    number, unit = age
    if unit == "d":
        return birth + dt.timedelta(days=number)
    return add_months(birth, number * (12 if unit == "y" else 1))


def child_schedule(birth: dt.date, plan: tuple[PlanVisit, ...], *, early_days: int = 7,
                   late_days: int = 30) -> list[ScheduledVisit]:
    """Each 儿保 check with its dates: from ``early_days`` before the age (never before birth) to
    ``late_days`` after it, and never past the day before the next check opens."""
    dues = [age_date(birth, v.age) for v in plan]
    placed = []
    for i, (visit, due) in enumerate(zip(plan, dues, strict=True)):
        opens = max(birth, due - dt.timedelta(days=early_days))
        closes = due + dt.timedelta(days=late_days)
        if i + 1 < len(dues):
            next_opens = max(birth, dues[i + 1] - dt.timedelta(days=early_days))
            closes = min(closes, next_opens - dt.timedelta(days=1))
        placed.append(ScheduledVisit(visit, opens, max(closes, opens), due))
    return placed


def age_text(birth: dt.date, day: dt.date) -> tuple[int, int, int]:
    """(years, months, days) of age on ``day``."""
    months = (day.year - birth.year) * 12 + day.month - birth.month
    if add_months(birth, months) > day:
        months -= 1
    days = (day - add_months(birth, months)).days
    return months // 12, months % 12, days


# -- which visit is due ------------------------------------------------------------------------

def visit_state(visit: ScheduledVisit, today: dt.date, arranged: bool) -> str:
    """'arranged' (booked or attended in its window), 'due' (open now), 'upcoming', or 'passed'."""
    if arranged:
        return "arranged"
    if today > visit.closes:
        return "passed"
    if today >= visit.opens:
        return "due"
    return "upcoming"


def next_visit(schedule: list[ScheduledVisit], today: dt.date, arranged: set[str]) -> ScheduledVisit | None:
    """The visit the patient should arrange next: the first not arranged whose window has not closed."""
    for visit in schedule:
        if visit.visit.key not in arranged and today <= visit.closes:
            return visit
    return None


def reminder_due(visit: ScheduledVisit, today: dt.date, days_before: int) -> bool:
    """Remind from ``days_before`` days before the window opens until it closes."""
    return visit.opens - dt.timedelta(days=days_before) <= today <= visit.closes
