"""Queue and reports (issue 7): live queue, counts, reports with abnormal flags, ownership, audit,
no caching, and the report-ready reminder."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, ChannelUser, Notification, Patient
from tests.identity_helpers import bind_form, queue_and_report_patient, sandbox_sign_in, seeded


def _bound(app, client, p, nickname="甲"):
    sandbox_sign_in(client, nickname=nickname)
    assert client.post("/h5/patients/new", data=bind_form(p)).status_code == 302
    with app.app_context():
        return db.session.scalar(select(Patient.id).where(Patient.card_no == p.card_no).order_by(Patient.id.desc()))


def test_queue_page_and_json_follow_the_his(app, client, his):
    p = queue_and_report_patient(app)
    pid = _bound(app, client, p)
    page = client.get("/h5/queue")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-store"
    ticket = next(t for t in his.queue_status(p.card_no) if t.status == "waiting" and t.ahead_count > 0)
    html = page.get_data(as_text=True)
    assert ticket.queue_no in html and ticket.area_name in html and "queue.js" in html
    for group in ("门诊诊区", "检验采血", "检查科室", "药房窗口"):
        assert group in html
    before = client.get(f"/h5/queue/status.json?patient={pid}").get_json()
    mine = next(t for t in before["tickets"] if t["queue_no"] == ticket.queue_no)
    assert mine["ahead_count"] == ticket.ahead_count
    his.advance_queue(ticket.area_code)  # the nurse calls the next number
    after = client.get(f"/h5/queue/status.json?patient={pid}")
    assert after.headers["Cache-Control"] == "private, no-store"
    mine_after = next(t for t in after.get_json()["tickets"] if t["queue_no"] == ticket.queue_no)
    assert mine_after["ahead_count"] == ticket.ahead_count - 1
    assert mine_after["current_no"] != mine["current_no"]
    area = next(a for a in after.get_json()["areas"] if a["area_code"] == ticket.area_code)
    assert area["current_no"] == mine_after["current_no"]


def test_queue_without_a_patient_asks_to_bind(client, his):
    sandbox_sign_in(client)
    response = client.get("/h5/queue")
    assert response.status_code == 302 and "/h5/patients/new" in response.headers["Location"]


def test_reports_list_and_lab_detail_with_abnormal_highlighting(app, client, his):
    p = queue_and_report_patient(app)
    pid = _bound(app, client, p)
    listing = client.get("/h5/reports")
    assert listing.headers["Cache-Control"] == "private, no-store"
    reports = his.list_reports(p.card_no)
    html = listing.get_data(as_text=True)
    for r in reports:
        assert r.title in html
    lab = next(r for r in reports if r.kind == "lab" and r.status == "ready"
               and any(i.flag for i in his.get_report(r.report_id, p.card_no).items))
    detail = client.get(f"/h5/reports/{lab.report_id}?patient={pid}")
    assert detail.status_code == 200 and detail.headers["Cache-Control"] == "private, no-store"
    page = detail.get_data(as_text=True)
    full = his.get_report(lab.report_id, p.card_no)
    flagged = [i for i in full.items if i.flag]
    assert page.count("h5-lab__row--abnormal") == len(flagged) and "abnormal-summary" in page
    assert all(i.result in page and i.reference in page for i in full.items)
    with app.app_context():
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "patient.view_report"))
        assert row.target_id == lab.report_id


def test_exam_report_shows_findings_and_conclusion(app, client, his):
    from doubles.his.simulator.seed import generate_patients

    p = next(x for x in generate_patients()
             if any(r.kind == "exam" and r.status == "ready" for r in his.list_reports(x.card_no)))
    _bound(app, client, p)
    exam = next(r for r in his.list_reports(p.card_no) if r.kind == "exam" and r.status == "ready")
    page = client.get(f"/h5/reports/{exam.report_id}").get_data(as_text=True)
    full = his.get_report(exam.report_id, p.card_no)
    assert full.findings in page and full.conclusion in page


def test_another_accounts_report_or_patient_is_404(app, clean_db, his):
    owner, intruder = app.test_client(), app.test_client()
    p = queue_and_report_patient(app)
    pid = _bound(app, owner, p, "甲")
    report_id = his.list_reports(p.card_no)[0].report_id
    _bound(app, intruder, seeded("adult"), "乙")
    assert intruder.get(f"/h5/reports/{report_id}?patient={pid}").status_code == 404
    assert intruder.get(f"/h5/reports/{report_id}").status_code == 404  # not the intruder's card
    assert intruder.get(f"/h5/queue?patient={pid}").status_code == 404
    assert intruder.get(f"/h5/queue/status.json?patient={pid}").status_code == 404
    assert intruder.get(f"/h5/reports?patient={pid}").status_code == 404


def test_unknown_card_gets_a_clear_message(app, client, his):
    p = seeded("mother")
    pid = _bound(app, client, p)
    with app.app_context():
        db.session.get(Patient, pid).card_no = "8899999999"
        db.session.commit()
    response = client.get("/h5/reports")
    assert response.status_code == 404 and "未找到该就诊卡" in response.get_data(as_text=True)


def test_report_ready_reminder_once_per_report(app, client, his):
    from doubles.his.simulator.seed import generate_patients
    from app.visits.queries import remind_ready_reports

    p = next(x for x in generate_patients() if any(r.status == "pending" for r in his.list_reports(x.card_no)))
    pid = _bound(app, client, p)
    pending = next(r for r in his.list_reports(p.card_no) if r.status == "pending")
    with app.app_context():
        assert remind_ready_reports() == 0  # reports issued before binding are not announced
        his.mark_report_ready(pending.report_id)
        assert remind_ready_reports() == 1
        assert remind_ready_reports() == 0  # one notice per report, however often the sweep runs
        notice = db.session.scalar(select(Notification).where(Notification.kind == "report_ready"))
        assert notice.link == f"/h5/reports/{pending.report_id}?patient={pid}"
        owner = db.session.scalar(select(ChannelUser.id))
        assert notice.owner_id == owner
    page = client.get(f"/h5/messages/{notice.id}").get_data(as_text=True)
    assert notice.link.replace("?", "?") in page.replace("&amp;", "&")
    assert client.get(notice.link).status_code == 200


def test_his_cli_advances_queues_and_publishes_reports(app, his):
    from doubles.his.simulator.seed import generate_patients

    runner = app.test_cli_runner()
    result = runner.invoke(args=["his", "advance-queue", "DN"])
    assert result.exit_code == 0 and "口腔诊区: now calling" in result.output
    p = next(x for x in generate_patients() if any(r.status == "pending" for r in his.list_reports(x.card_no)))
    result = runner.invoke(args=["his", "report-ready", "--card", p.card_no])
    assert result.exit_code == 0 and ": ready" in result.output
