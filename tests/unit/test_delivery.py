"""Sending notices: sandbox pushes recorded, retries with backoff, final failures not retried; a notice's
push is an outbox row (``notice.push``) written with it and carried out by ``deliver`` after the commit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock, outbox
from app.channels.messages import PushMessage, PushRefused
from doubles.channels.messages import SandboxSender
from app.models import ChannelUser, MessagePush, MessageTemplate, Notification, OutboxTask, StateTransition
from app.services import states
from app.messages.delivery import BACKOFF_MINUTES, MAX_ATTEMPTS, deliver, render_fields, sweep
from app.messages.notifications import PUSH, notify
from app.services.uow import unit_of_work


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """The outbox writes each notice's push row but hands none to the queue: the tests push by hand."""
    monkeypatch.setattr(outbox, "_enqueue", None)


@pytest.fixture()
def account(ctx):
    user = ChannelUser(channel="wechat", channel_uid="oUSER1", subscribed=True)
    ctx.session.add(user)
    ctx.session.add(MessageTemplate(kind="report_ready", channel="wechat", template_id="TPL-R",
                                    field_map_json='{"thing1": "title", "thing2": "body", "character_string3": '
                                                   '"payload.report_id", "thing4": "\'检验科\'"}'))
    ctx.session.commit()
    return user


def _notice(ctx, user, key="k1") -> Notification:
    notice = notify(user.id, "report_ready", "报告已出", "您的血常规报告已出", dedupe_key=key,
                    link="/h5/reports/lab/RP1", payload={"report_id": "RP1"})
    ctx.session.commit()
    return notice


class Recording:
    def __init__(self, error: str | None = None) -> None:
        self.sent: list[PushMessage] = []
        self.error = error

    def __call__(self, channel):
        return self

    channel = "wechat"

    def send(self, message):
        self.sent.append(message)
        if self.error:
            raise PushRefused(self.error, "refused")
        return SandboxSender("wechat").send(message)


def test_a_notice_is_pushed_with_mapped_keyword_fields_and_recorded(ctx, account):
    notice = _notice(ctx, account)
    sender = Recording()
    assert deliver(notice.id, sender) == "sent"
    message = sender.sent[0]
    assert message.recipient == "oUSER1" and message.template_id == "TPL-R"
    assert message.fields == {"thing1": "报告已出", "thing2": "您的血常规报告已出", "character_string3": "RP1",
                              "thing4": "检验科"}
    assert message.url.endswith("/h5/reports/lab/RP1")
    push = ctx.session.scalar(select(MessagePush))
    assert push.ok and push.template_id == "TPL-R" and "oUSER1" in push.request_json
    ctx.session.refresh(notice)
    assert notice.status == "sent" and notice.sent_at is not None and notice.read_at is None
    assert deliver(notice.id, sender) == "sent" and len(sender.sent) == 1  # never twice


def test_notify_is_deduplicated(ctx, account):
    assert _notice(ctx, account).id == _notice(ctx, account).id


def test_passing_failures_are_retried_with_backoff_then_given_up(ctx, account):
    notice = _notice(ctx, account)
    sender = Recording(error="-1")  # WeChat "system busy"
    assert deliver(notice.id, sender) == "pending"
    ctx.session.refresh(notice)
    assert notice.attempts == 1 and notice.last_error == "retry:-1"
    wait = notice.next_attempt_at - clock.utcnow()
    assert dt.timedelta(seconds=50) < wait <= dt.timedelta(minutes=BACKOFF_MINUTES[0])
    assert sweep(sender) == {}  # not due yet
    for _ in range(MAX_ATTEMPTS - 1):
        ctx.session.execute(Notification.__table__.update().values(next_attempt_at=None))
        ctx.session.commit()
        deliver(notice.id, sender)
    ctx.session.refresh(notice)
    assert notice.status == "failed" and notice.last_error == "gave_up:-1" and notice.attempts == MAX_ATTEMPTS
    assert ctx.session.query(MessagePush).filter_by(ok=False).count() == MAX_ATTEMPTS


@pytest.mark.parametrize(("code", "reason"), [("45009", "quota"), ("43004", "not_following"),
                                              ("PUB.MSG_SD_NOFOLLOW", "not_following")])
def test_quota_and_not_following_are_recorded_and_not_retried(ctx, account, code, reason):
    notice = _notice(ctx, account)
    assert deliver(notice.id, Recording(error=code)) == "failed"
    ctx.session.refresh(notice)
    assert notice.last_error == reason and notice.next_attempt_at is None and notice.attempts == 1
    assert sweep(Recording()) == {}
    assert ctx.session.scalar(select(MessagePush)).error_code == code


def test_sandbox_failures_come_from_configuration(ctx, account, app):
    app.config["SANDBOX_PUSH_FAILURES"] = {"oUSER1": "43004"}
    try:
        notice = _notice(ctx, account)
        assert deliver(notice.id) == "failed"
        ctx.session.refresh(notice)
        assert notice.last_error == "not_following"
    finally:
        app.config["SANDBOX_PUSH_FAILURES"] = {}


def test_without_a_template_the_notice_fails_visibly_but_stays_in_the_inbox(ctx, account):
    notice = notify(account.id, "booking_success", "预约成功", "您已预约", dedupe_key="b1")
    ctx.session.commit()
    assert deliver(notice.id) == "failed"
    from app.messages.notifications import inbox

    assert [n.id for n in inbox(account.id)] == [notice.id]
    assert ctx.session.get(Notification, notice.id).last_error == "no_template"


def test_a_send_killed_midway_is_released_by_the_sweep(ctx, account):
    _notice(ctx, account)
    ctx.session.execute(Notification.__table__.update().values(
        status="sending", next_attempt_at=dt.datetime(2000, 1, 1)))
    ctx.session.commit()
    assert sweep(Recording()) == {"sent": 1}


def _moves(ctx, notice_id):
    rows = ctx.session.scalars(select(StateTransition).where(StateTransition.order_type == "notice",
                                                             StateTransition.order_id == notice_id)
                               .order_by(StateTransition.id))
    return [(r.from_status, r.to_status, r.actor, r.reason) for r in rows]


def test_every_push_move_is_guarded_and_recorded(ctx, account):
    sent, retried = _notice(ctx, account, "t1"), _notice(ctx, account, "t2")
    assert deliver(sent.id, Recording()) == "sent"
    assert deliver(retried.id, Recording(error="-1")) == "pending"
    assert _moves(ctx, sent.id) == [("pending", "sending", "system:delivery", None),
                                    ("sending", "sent", "system:delivery", None)]
    assert _moves(ctx, retried.id) == [("pending", "sending", "system:delivery", None),
                                       ("sending", "pending", "system:delivery", "retry:-1")]


def test_a_claim_lost_to_another_worker_pushes_nothing(ctx, account):
    notice = _notice(ctx, account)
    assert states.move("notice", notice.id, "pending", "sending", actor="worker-2")  # the other worker was first
    ctx.session.commit()
    sender = Recording()
    assert deliver(notice.id, sender) == "sending" and sender.sent == []
    assert [m[2] for m in _moves(ctx, notice.id)] == ["worker-2"]
    assert not states.move("notice", notice.id, "pending", "sending", actor="worker-3"), "a second claim loses"


def test_a_finish_after_the_notice_moved_on_changes_nothing(ctx, account):
    notice = _notice(ctx, account)

    class Released(Recording):
        def send(self, message):  # meanwhile the sweep released the send as stale
            assert states.move("notice", notice.id, "sending", "pending", actor="sweep", reason="stale")
            return super().send(message)

    assert deliver(notice.id, Released()) == "pending"
    row = ctx.session.get(Notification, notice.id)
    ctx.session.refresh(row)
    assert row.status == "pending" and row.sent_at is None
    assert [(m[0], m[1]) for m in _moves(ctx, notice.id)] == [("pending", "sending"), ("sending", "pending")]


def test_the_stale_release_is_recorded_and_spares_a_fresh_send(ctx, account):
    stale, fresh = _notice(ctx, account, "s1"), _notice(ctx, account, "s2")
    ctx.session.execute(Notification.__table__.update().where(Notification.id == stale.id).values(
        status="sending", next_attempt_at=dt.datetime(2000, 1, 1)))
    ctx.session.execute(Notification.__table__.update().where(Notification.id == fresh.id).values(
        status="sending", next_attempt_at=clock.utcnow()))
    ctx.session.commit()
    from app.messages.delivery import due_notifications

    assert due_notifications() == [stale.id]
    assert _moves(ctx, stale.id) == [("sending", "pending", "system:delivery", "stale sending released")]
    assert _moves(ctx, fresh.id) == [] and ctx.session.get(Notification, fresh.id).status == "sending"


def test_render_fields_defaults(ctx, account):
    notice = _notice(ctx, account)
    fields = render_fields(notice, MessageTemplate(kind="x", channel="wechat", template_id="t", field_map_json="{}"))
    assert fields == {"thing1": "报告已出", "thing2": "您的血常规报告已出"}


def test_wechat_sender_maps_wechatpy_errors():
    from wechatpy.exceptions import WeChatClientException

    from app.channels.wechat.messages import WechatTemplateSender

    class Client:
        class message:
            @staticmethod
            def send_template(user_id, template_id, data, url=None):
                raise WeChatClientException(45009, "reach max api daily quota limit")

    with pytest.raises(PushRefused) as err:
        WechatTemplateSender(Client()).send(PushMessage("wechat", "o1", "T", {"thing1": "x" * 30}))
    assert err.value.reason == "quota"


def test_alipay_sender_maps_not_following():
    from alipay.exceptions import AliPayException

    from app.channels.alipay.messages import AlipayLifeSender

    class Client:
        def server_api(self, method, biz_content=None, **kw):
            assert method == "alipay.open.public.message.single.send"
            assert biz_content["to_user_id"] == "2088"
            raise AliPayException("40004", '{"error_response": {"sub_code": "PUB.MSG_SD_NOFOLLOW"}}')

    with pytest.raises(PushRefused) as err:
        AlipayLifeSender(Client()).send(PushMessage("alipay", "2088", "T", {"keyword1": "x"}, title="t"))
    assert err.value.reason == "not_following"


def test_a_long_body_is_fitted_to_its_keyword_and_the_time_is_beijings(ctx):
    """The demo templates map the body into a thing field: WeChat would refuse 60+ characters (47003)."""
    from app import clock
    from app.channels.wechat.keywords import violation

    user = ChannelUser(channel="wechat", channel_uid="oUSER2", subscribed=True)
    ctx.session.add(user)
    ctx.session.add(MessageTemplate(kind="stop_clinic", channel="wechat", template_id="TPL-S",
                                    field_map_json='{"thing1": "title", "thing2": "body", "time3": "time", '
                                                   '"amount4": "payload.amount_fen"}'))
    ctx.session.commit()
    clock.freeze(dt.datetime(2027, 1, 1, 0, 30))  # Beijing; still 2026-12-31 in UTC
    try:
        body = ("很抱歉，谢诗医生 2027-01-03 上午 停诊（医生外出会诊），您的预约已取消，挂号费将原路退回。"
                "点击可一键改约该医生其他时段。")
        notice = notify(user.id, "stop_clinic", "停诊通知", body, dedupe_key="long-1", link="/h5/",
                        payload={"amount_fen": 1250})
        ctx.session.commit()
        sender = Recording()
        assert deliver(notice.id, sender) == "sent"  # the sandbox checks every keyword as WeChat does
    finally:
        clock.reset()
    fields = sender.sent[0].fields
    assert fields["thing2"] == body[:19] + "…" and fields["time3"] == "2027年1月1日 00:30"
    assert fields["amount4"] == "¥12.50"
    assert all(violation(key, value) is None for key, value in fields.items())


def test_a_notice_writes_its_push_to_the_outbox_in_the_same_transaction(ctx, account):
    with unit_of_work():
        notice = notify(account.id, "report_ready", "报告已出", "您的报告已出", dedupe_key="o1",
               payload={"report_id": "RP1"})
        notify(account.id, "report_ready", "报告已出", "您的报告已出", dedupe_key="o1",
               payload={"report_id": "RP1"})  # the same notice
    tasks = ctx.session.execute(select(OutboxTask.kind, OutboxTask.ref, OutboxTask.payload)).all()
    assert tasks == [(PUSH, str(notice.id), f'{{"notice_id": {notice.id}}}')]
    assert outbox.run(PUSH, str(notice.id)) == "done"
    assert ctx.session.get(Notification, notice.id).status == "sent"
    assert outbox.run(PUSH, str(notice.id)) == "done" and ctx.session.query(MessagePush).count() == 1


def test_a_notice_rolled_back_leaves_no_push(ctx, account):
    with pytest.raises(RuntimeError), unit_of_work():
        # the use case writes first (pysqlite's default mode opens no transaction before a SAVEPOINT, whose
        # RELEASE would then commit on its own: an SQLite-only quirk, MariaDB opens the transaction at once)
        account.subscribed = False
        ctx.session.flush()
        notify(account.id, "report_ready", "报告已出", "您的报告已出", dedupe_key="o2",
               payload={"report_id": "RP1"})
        raise RuntimeError("the use case failed")
    assert ctx.session.query(OutboxTask).count() == 0 and ctx.session.query(Notification).count() == 0
    assert ctx.session.get(ChannelUser, account.id).subscribed


def test_with_a_worker_the_notice_is_pushed_after_its_commit(ctx, account, monkeypatch):
    from app.tasks.outbox import run_outbox_task

    monkeypatch.setattr(outbox, "_enqueue", run_outbox_task)  # what create_app gives it; huey runs inline
    with unit_of_work():
        notice = notify(account.id, "report_ready", "报告已出", "您的报告已出", dedupe_key="o3",
               payload={"report_id": "RP1"})
        assert ctx.session.query(MessagePush).count() == 0, "nothing is pushed before the commit"
    assert ctx.session.get(Notification, notice.id).status == "sent"
    assert ctx.session.scalar(select(OutboxTask.status).where(OutboxTask.kind == PUSH)) == "done"
    assert sweep(Recording()) == {}  # the sweep finds nothing left to push


def test_a_push_the_sweep_made_first_is_not_made_again_by_the_outbox(ctx, account):
    notice = _notice(ctx, account)
    sender = Recording()
    assert sweep(sender) == {"sent": 1}
    assert outbox.run(PUSH, str(notice.id)) == "done" and len(sender.sent) == 1
    assert ctx.session.query(MessagePush).count() == 1
