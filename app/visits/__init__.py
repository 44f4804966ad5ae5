"""The patient's visit as the HIS tells it now (就诊): ``queries`` — 排队叫号 (where the patient stands in the
queue) and 报告查询 (examination and lab reports, each view audited), and the report-ready reminder.
Nothing personal is cached here; callers import the module directly."""
