"""订单全链路: the page IT opens when a patient calls. Search by any number; one timeline per order."""

from __future__ import annotations

from flask import abort, g, request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import lazy_gettext as _l

from app.services import audit
from app.backoffice import order_trace, orders
from app.services.formatting import mask_name, mask_phone, yuan_grouped


class OrderTraceView(BaseView):
    route_base = "/trace"
    default_view = "search"
    method_permission_name = {"search": "search", "story": "search"}
    base_permissions = ["can_search"]

    @expose("/")
    @has_access
    def search(self):
        q = (request.args.get("q") or "").strip()[:64]
        matches = order_trace.find(q) if q else []
        if q:
            audit.staff_viewed("staff.trace_search", g.user, target_type="order",
                               criteria={"q": mask_phone(q) if q.isdigit() and len(q) == 11 else q})
        if len(matches) == 1:
            return self._render(q, matches, order_trace.story(matches[0].order_type, matches[0].id))
        return self._render(q, matches, None)

    @expose("/<order_type>/<int:pk>")
    @has_access
    def story(self, order_type: str, pk: int):
        if order_type not in ("appointment", "payment"):
            abort(404)
        found = order_trace.story(order_type, pk)
        if found is None:
            abort(404)
        return self._render(found.order_no, [], found)

    def _render(self, q, matches, story):
        if story is not None:
            root = story.appointment or story.payments[0]
            audit.staff_viewed("staff.view_order", g.user, target_type="appointment" if story.appointment
                               else "payment", target_id=root.id)
        patient = None
        if story is not None:
            p = (story.appointment or story.payments[0]).patient
            patient = {"name": mask_name(p.name), "phone": mask_phone(p.phone), "card_no": p.card_no}
        return self.render_template("backoffice/order_trace.html", title=_l("订单全链路"), q=q, matches=matches,
                                    story=story, patient=patient, labels=orders, yuan=yuan_grouped)
