"""Personal centre (个人中心): 就诊人 and family contacts, messages, service instructions, surveys.

Thin: every rule is in the domain (app/identity/cards.py, app/messages/notifications.py,
app/messages/content.py); every lookup is scoped to the signed-in account, so another account's id
answers 404.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.his.errors import HisUnavailable
from app.links import site_path
from app.models.patients import RELATIONS
from app.messages import content
from app.identity import cards
from app.services.errors import Conflict, DomainError
from app.messages.notifications import inbox, read_all, read_notice, unread_count
from app.identity.patients import owned_patient, patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required
from h5.routes.auth import safe_next


#: the button of a notice that leads somewhere to act (the rest say 查看详情)
NOTICE_ACTIONS = {"stop_clinic": _l("一键改约"), "bill_reminder": _l("去缴费"), "survey": _l("去评价"),
                  "report_ready": _l("查看报告")}


def relation_labels() -> dict[str, str]:
    return {"self": _("本人"), "child": _("子女"), "spouse": _("配偶"), "parent": _("父母"), "other": _("其他")}


@bp.app_context_processor
def inject_relations():
    return {"relation_labels": relation_labels}


@bp.get("/me")
@login_required
def me():
    user = current_user()
    waiting = sum(1 for i in content.survey_invitations(user.id) if not i.answered)
    return render_template("h5/me.html", user=user, patients=patients_of(user.id), surveys_waiting=waiting,
                           unread=unread_count(user.id), max_patients=cards.max_patients())


@bp.get("/patients")
@login_required
def patients():
    user = current_user()
    return render_template("h5/patients.html", patients=patients_of(user.id), max_patients=cards.max_patients())


@bp.route("/patients/new", methods=["GET", "POST"])
@login_required
def patient_new():
    user = current_user()
    has_self = any(p.relation == "self" for p in patients_of(user.id))
    form = request.form if request.method == "POST" else {"relation": "child" if has_self else "self"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            cards.bind_patient(user, request.form)
            flash(_("就诊人绑定成功"), "success")
            return redirect(safe_next(request.args.get("next")) if request.args.get("next")
                            else url_for("h5.patients"))
        except cards.InvalidForm as exc:
            errors = exc.errors
        except (cards.VerificationFailed, Conflict) as exc:
            errors = {"_form": exc.message}
        except HisUnavailable:
            errors = {"_form": _("医院系统暂时无法连接，请稍后再试")}
    demo_cards = current_app.extensions.get("demo_patient_cards")  # demo mode only (app/doubles_switch.py)
    return render_template("h5/patient_form.html", form=form, errors=errors, relations=RELATIONS,
                           editing=None, demo_cards=demo_cards() if demo_cards else []), 422 if errors else 200


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@login_required
def patient_edit(patient_id: int):
    user = current_user()
    patient = owned_patient(user.id, patient_id)
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else {
        "relation": patient.relation, "phone": patient.phone or "", "guardian_name": patient.guardian_name or "",
        "guardian_id_number": patient.guardian_id_number or ""}
    if request.method == "POST":
        try:
            cards.update_contact(user, patient_id, request.form)
            flash(_("已保存"), "success")
            return redirect(url_for("h5.patients"))
        except cards.InvalidForm as exc:
            errors = exc.errors
    return render_template("h5/patient_form.html", form=form, errors=errors, relations=RELATIONS,
                           editing=patient), 422 if errors else 200


@bp.post("/patients/<int:patient_id>/remove")
@login_required
def patient_remove(patient_id: int):
    user = current_user()
    try:
        cards.remove_contact(user, patient_id)
    except cards.PatientHasBookings as refused:
        return render_template("h5/patients.html", patients=patients_of(user.id), max_patients=cards.max_patients(),
                               refused=refused), refused.status
    flash(_("已解除绑定"), "success")
    return redirect(url_for("h5.patients"))


@bp.post("/patients/<int:patient_id>/default")
@login_required
def patient_default(patient_id: int):
    cards.set_default(current_user(), patient_id)
    flash(_("已设为默认就诊人"), "success")
    return redirect(url_for("h5.patients"))


# --- message centre (消息中心) ----------------------------------------------------------------------

@bp.get("/messages")
@login_required
def messages():
    user = current_user()
    return render_template("h5/messages.html", notices=inbox(user.id), unread=unread_count(user.id))


@bp.get("/messages/<int:notice_id>")
@login_required
def message_detail(notice_id: int):
    notice = read_notice(current_user_id(), notice_id)
    return render_template("h5/message_detail.html", notice=notice, link=site_path(notice.link),
                           action=NOTICE_ACTIONS.get(notice.kind, _l("查看详情")))


@bp.post("/messages/read-all")
@login_required
def messages_read_all():
    read_all(current_user_id())
    return redirect(url_for("h5.messages"))


# --- service instructions and surveys ------------------------------------------------------------

@bp.get("/instructions")
def instructions():
    return render_template("h5/instructions.html", pages=content.published_instructions())


@bp.get("/instructions/<slug>")
def instruction_page(slug: str):
    page = content.instruction(slug)
    return render_template("h5/instruction.html", page=page, body=content.render_rich_text(page.body))


@bp.get("/surveys")
@login_required
def surveys():
    return render_template("h5/surveys.html", invitations=content.survey_invitations(current_user_id()))


@bp.route("/surveys/<int:survey_id>", methods=["GET", "POST"])
@login_required
def survey(survey_id: int):
    user = current_user()
    subject = request.values.get("subject", "")
    survey = content.active_survey(survey_id)
    if not content.invited(user.id, survey, subject):
        raise DomainError(_("调查不存在或已结束"), status=404)
    errors: dict[int, str] = {}
    if content.answered(user.id, survey, subject):
        return render_template("h5/survey_done.html", survey=survey)
    if request.method == "POST":
        try:
            content.answer_survey(user.id, survey_id, subject, request.form)
            return render_template("h5/survey_done.html", survey=survey)
        except content.SurveyInvalid as exc:
            errors = exc.errors
    import json

    return render_template("h5/survey.html", survey=survey, subject=subject, errors=errors, form=request.form,
                           options={q.id: json.loads(q.options_json or "[]") for q in survey.questions}), \
        400 if errors else 200


from app.services.formatting import beijing  # noqa: E402

bp.add_app_template_filter(beijing, "beijing")
