"""Inpatient deposits (住院押金): topping a stay up through the H5 page and the sandbox cashier, and the
demo finance account signing in to refund one."""

from __future__ import annotations

from tests.factories import wait_for
from tests.helpers.bills import load, login, pay_in_sandbox

CARD = "8800000003"          # in hospital (seeded deposits were paid at the window, not through the platform)


def pay_deposit(app, client, his, sandbox, acc, yuan: str, channel: str = "wechat") -> str:
    """Top up the stay of ``acc``'s card through the H5 page and the sandbox cashier; the HIS credits it."""
    login(app, client, acc["user"])
    stay = his.inpatient_stay(acc["card"])
    response = client.post("/h5/inpatient/deposit", data={"patient_id": acc["patient"],
                                                          "inpatient_no": stay.inpatient_no, "amount": yuan})
    assert response.status_code == 303, response.get_data(as_text=True)
    order_no = response.headers["Location"].rsplit("/", 1)[-1]
    pay_in_sandbox(app, sandbox, acc["user"], order_no, channel)
    assert wait_for(lambda: load(app, order_no).status == "confirmed")
    return order_no


def finance_signs_in(app, client) -> None:
    """The demo finance account (staff accounts outlive the tables a test empties)."""
    from doubles.demo.hospital import DEMO_ACCOUNTS
    from tests.backoffice_helpers import login as staff_login
    from tests.backoffice_helpers import restore_demo_staff

    with app.app_context():
        sm = app.appbuilder.sm
        username, password, role, display = next(a for a in DEMO_ACCOUNTS if a[0] == "finance")
        if sm.find_user(username=username) is None:
            sm.add_user(username=username, first_name=display, last_name=role, email="finance@demo.hospital.local",
                        role=sm.find_role(role), password=password)
    restore_demo_staff(app)
    staff_login(client, "finance")
