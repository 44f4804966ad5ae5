"""Registration (预约挂号 / 当天挂号): hold a slot, pay, confirm at the HIS, cancel, 停诊 and 改约, attendance,
找医生, 诊前签到 and 叫号提醒.

``commands`` (the use cases, each in its unit of work), ``queries`` (what the pages read), ``rules`` (the
booking window, who may book, the limits), ``states`` (the appointment machine and ``decide``), ``notices``
(what the patient is told), ``schedules`` (the timetable synced from the HIS: departments, doctors, 号源).
Callers import from these modules directly."""
