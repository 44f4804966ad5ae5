"""住院服务 end to end: the stay and its balance warning, finding a stay by admission number, deposit
top-up limits and refusals, paying a deposit in the sandbox (the HIS balance changes), a discharged
stay refunding the deposit, deposit records, daily list by category, total cost."""

from __future__ import annotations

from sqlalchemy import func, select, update

from app.extensions import db
from doubles.his.simulator.models import StayRow
from app.models import Notification, PaymentOrder, SystemSetting
from app.inpatient import deposits
from app.payments import commands as payments
from tests.factories import stay_with_balance, wait_for
from tests.helpers.bills import account, load, login

LOW_BALANCE_CARD = "8800000012"   # in hospital (the tests that need its balance set it: stay_with_balance)
HEALTHY_CARD = "8800000003"       # in hospital
DISCHARGED_CARD = "8800000005"    # discharged yesterday
NO_STAY_CARD = "8800000002"       # never stayed


def orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PaymentOrder))


def test_stay_page_shows_balance_and_warns_below_the_threshold(app, client, his):
    low = account(app, LOW_BALANCE_CARD)
    login(app, client, low["user"])
    stay = stay_with_balance(his, LOW_BALANCE_CARD, -22680)
    page = client.get("/h5/inpatient").get_data(as_text=True)
    assert stay.inpatient_no in page and 'data-balance="-22680"' in page
    assert "data-low-balance" in page and "请及时补缴" in page
    stay_with_balance(his, HEALTHY_CARD, 418770)  # above the default warning threshold (¥1,000.00)
    healthy = account(app, HEALTHY_CARD)
    login(app, client, healthy["user"])
    page = client.get("/h5/inpatient").get_data(as_text=True)
    assert "data-low-balance" not in page and 'data-action="topup"' in page


def test_warning_threshold_comes_from_the_setting(app, client, his):
    healthy = account(app, HEALTHY_CARD)
    balance = his.inpatient_stay(HEALTHY_CARD).balance_fen
    with app.app_context():
        db.session.add(SystemSetting(key="inpatient.balance_warning_yuan", value=str(balance // 100 + 1)))
        db.session.commit()
    login(app, client, healthy["user"])
    assert "data-low-balance" in client.get("/h5/inpatient").get_data(as_text=True)


def test_no_stay_and_discharged_stay(app, client, his):
    none = account(app, NO_STAY_CARD)
    login(app, client, none["user"])
    assert "暂无住院记录" in client.get("/h5/inpatient").get_data(as_text=True)
    assert client.get(f"/h5/inpatient/daily?patient_id={none['patient']}").status_code == 404
    gone = account(app, DISCHARGED_CARD)
    login(app, client, gone["user"])
    page = client.get("/h5/inpatient").get_data(as_text=True)
    assert "已出院" in page and 'data-action="topup"' not in page


def test_find_stay_by_admission_number_only_among_own_patients(app, client, his):
    mine = account(app, LOW_BALANCE_CARD)
    account(app, HEALTHY_CARD)
    login(app, client, mine["user"])
    own = his.inpatient_stay(LOW_BALANCE_CARD).inpatient_no
    response = client.get(f"/h5/inpatient?inpatient_no={own.lower()}")
    assert response.status_code == 302 and f"patient_id={mine['patient']}" in response.headers["Location"]
    foreign = his.inpatient_stay(HEALTHY_CARD).inpatient_no
    response = client.get(f"/h5/inpatient?inpatient_no={foreign}")
    assert response.status_code == 404 and "只能查询已绑定就诊人" in response.get_data(as_text=True)
    response = client.get("/h5/inpatient?inpatient_no=<script>")
    assert response.status_code == 400 and "住院号格式不正确" in response.get_data(as_text=True)


def _topup(client, acc, his, card, amount):
    stay = his.inpatient_stay(card)
    return client.post("/h5/inpatient/deposit", data={"patient_id": acc["patient"], "inpatient_no": stay.inpatient_no,
                                                      "amount": amount})


def test_topup_refusals_change_nothing(app, client, his):
    acc = account(app, HEALTHY_CARD)
    login(app, client, acc["user"])
    for amount, status, text in [("abc", 400, "请输入正确的金额"), ("-5", 400, "请输入正确的金额"),
                                 ("1.234", 400, "请输入正确的金额"), ("99.99", 400, "不能低于 ¥100.00"),
                                 ("50000.01", 400, "不能高于 ¥50000.00")]:
        response = _topup(client, acc, his, HEALTHY_CARD, amount)
        assert response.status_code == status and text in response.get_data(as_text=True), amount
    gone = account(app, DISCHARGED_CARD)
    login(app, client, gone["user"])
    response = _topup(client, gone, his, DISCHARGED_CARD, "1000")
    assert response.status_code == 409 and "已出院" in response.get_data(as_text=True)
    # another account's patient
    response = client.post("/h5/inpatient/deposit", data={"patient_id": acc["patient"], "inpatient_no": "ZY1",
                                                          "amount": "1000"})
    assert response.status_code == 404
    assert orders(app) == 0


def test_limits_come_from_the_settings(app, ctx, his):
    assert deposits.deposit_limits() == (10000, 5000000)
    db.session.add_all([SystemSetting(key="deposit.min_yuan", value="500"),
                        SystemSetting(key="deposit.max_yuan", value="2000.50")])
    db.session.commit()
    assert deposits.deposit_limits() == (50000, 200050)
    db.session.execute(update(SystemSetting).where(SystemSetting.key == "deposit.max_yuan").values(value="1"))
    db.session.commit()
    assert deposits.deposit_limits() == (10000, 5000000)  # nonsense falls back to the defaults


def test_deposit_paid_in_the_sandbox_credits_the_stay_at_the_his(app, client, his, sandbox):
    acc = account(app, HEALTHY_CARD)
    login(app, client, acc["user"])
    before = his.inpatient_stay(HEALTHY_CARD)
    response = _topup(client, acc, his, HEALTHY_CARD, "1000.50")
    assert response.status_code == 303
    order_no = response.headers["Location"].rsplit("/", 1)[-1]
    with app.app_context():
        from app.models import ChannelUser

        user = db.session.get(ChannelUser, acc["user"])
        payments.start_payment(order_no, user.id, user.channel_uid, "http://127.0.0.1/h5/")
    sandbox.confirm_payment("wechat", order_no)
    order = load(app, order_no)
    assert order.status == "confirmed" and order.amount_fen == 100050 and order.his_receipt_no
    after = his.inpatient_stay(HEALTHY_CARD)
    assert after.balance_fen == before.balance_fen + 100050
    assert after.deposit_total_fen == before.deposit_total_fen + 100050
    result = client.get(f"/h5/pay/{order_no}/result").get_data(as_text=True)
    assert "已存入住院账户" in result and "/h5/inpatient?patient_id=" in result
    records = client.get(f"/h5/inpatient/deposits?patient_id={acc['patient']}").get_data(as_text=True)
    assert order.his_receipt_no in records and "1000.50" in records and "已入账" in records
    page = client.get("/h5/inpatient").get_data(as_text=True)
    assert f'data-balance="{after.balance_fen}"' in page
    with app.app_context():
        assert db.session.scalar(select(Notification).where(Notification.kind == "deposit_paid")) is not None


def test_a_stay_discharged_before_the_money_arrived_refunds_the_deposit(app, client, his, sandbox):
    acc = account(app, HEALTHY_CARD)
    login(app, client, acc["user"])
    stay = his.inpatient_stay(HEALTHY_CARD)
    order_no = _topup(client, acc, his, HEALTHY_CARD, "500").headers["Location"].rsplit("/", 1)[-1]
    with his.unit() as s:  # the ward discharges the patient while they are at the cashier
        s.execute(update(StayRow).where(StayRow.inpatient_no == stay.inpatient_no).values(status="discharged"))
    with app.app_context():
        from app.models import ChannelUser

        user = db.session.get(ChannelUser, acc["user"])
        payments.start_payment(order_no, user.id, user.channel_uid, "http://127.0.0.1/h5/")
    sandbox.confirm_payment("wechat", order_no)
    assert wait_for(lambda: load(app, order_no).status == "refunded")
    assert his.inpatient_stay(HEALTHY_CARD).deposit_total_fen == stay.deposit_total_fen
    records = client.get(f"/h5/inpatient/deposits?patient_id={acc['patient']}").get_data(as_text=True)
    assert order_no not in records or "已退款" in records
    assert 'data-state="refunded"' in records
    with app.app_context():
        kinds = set(db.session.scalars(select(Notification.kind).where(Notification.owner_id == acc["user"])))
    assert {"deposit_failed", "refund_success"} <= kinds


def test_daily_list_grouped_by_category_for_a_chosen_day(app, client, his):
    acc = account(app, HEALTHY_CARD)
    login(app, client, acc["user"])
    stay = his.inpatient_stay(HEALTHY_CARD)
    day = stay.admitted_at.date()
    costs = his.daily_costs(stay.inpatient_no, day)
    page = client.get(f"/h5/inpatient/daily?patient_id={acc['patient']}&day={day.isoformat()}").get_data(as_text=True)
    assert f'data-day-total="{costs.total_fen}"' in page
    for category in {i.category for i in costs.items}:
        assert page.count(f'data-category="{category}"') == 1
    for item in costs.items:
        assert item.name in page
    bad = client.get(f"/h5/inpatient/daily?patient_id={acc['patient']}&day=2001-01-01")
    assert bad.status_code == 400 and "不在住院期间" in bad.get_data(as_text=True)
    bad = client.get(f"/h5/inpatient/daily?patient_id={acc['patient']}&day=yesterday")
    assert bad.status_code == 400 and "日期格式不正确" in bad.get_data(as_text=True)


def test_total_cost_by_category_with_deposits_and_balance(app, client, his):
    acc = account(app, LOW_BALANCE_CARD)
    login(app, client, acc["user"])
    stay = stay_with_balance(his, LOW_BALANCE_CARD, -12345)
    summary = his.total_cost(stay.inpatient_no)
    assert summary.balance_fen == -12345 and summary.deposit_fen - summary.total_fen == -12345
    page = client.get(f"/h5/inpatient/costs?patient_id={acc['patient']}").get_data(as_text=True)
    for category in summary.by_category:
        assert f'data-category="{category}"' in page
    assert 'data-balance="-12345"' in page and "data-low-balance" in page
    other = account(app, HEALTHY_CARD)
    assert client.get(f"/h5/inpatient/costs?patient_id={other['patient']}").status_code == 404
    assert client.get(f"/h5/inpatient/deposits?patient_id={other['patient']}").status_code == 404


def test_the_stay_pages_opened_without_a_patient_lead_to_inpatient_services(app, client, his):
    """押金记录, 每日清单, 费用总览 and 押金补缴 opened without their patient (a bookmark, a shared link, a patient with
    no card bound yet) answered 就诊人不存在 (404); they now lead to 住院服务, where a card is chosen or bound.
    Another account's patient is still refused."""
    healthy = account(app, HEALTHY_CARD)
    login(app, client, healthy["user"])
    for path in ("/h5/inpatient/deposits", "/h5/inpatient/daily", "/h5/inpatient/costs", "/h5/inpatient/deposit"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/h5/inpatient"), path
    other = account(app, DISCHARGED_CARD)
    assert client.get(f"/h5/inpatient/daily?patient_id={other['patient']}").status_code == 404
