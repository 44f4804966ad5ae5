"""The back-office home page (首页): today at a glance against the same weekday last week, and the
worklist of what a person must look at, each count linking to the list that shows those rows."""

from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import lazy_gettext as _l

from app.backoffice import orders, worklist
from app.services.formatting import yuan_grouped


class HomeView(IndexView):
    """FAB's index, replaced (``FAB_INDEX_VIEW``): what each role sees is what its menus allow."""

    index_template = "backoffice/home.html"

    @expose("/")
    def index(self):
        user = g.user
        if user is None or not getattr(user, "is_authenticated", False):
            return redirect(url_for(self.appbuilder.sm.auth_view.endpoint + ".login"))
        sm = self.appbuilder.sm
        sees_money = sm.has_access("can_list", "PaymentOrderView")
        glance = worklist.at_a_glance() if sees_money or sm.has_access("can_list", "AppointmentOrderView") else None
        items = worklist.worklist(lambda view: sm.has_access("can_list", view))
        return self.render_template(self.index_template, appbuilder=self.appbuilder, title=_l("首页"),
                                    glance=glance, sees_money=sees_money, items=items, yuan=yuan_grouped,
                                    channels=orders.CHANNELS, open_count=sum(i.count for i in items),
                                    can_trace=sm.has_access("can_search", "OrderTraceView"))
