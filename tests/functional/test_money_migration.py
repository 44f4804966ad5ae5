"""Migration 0014_money on a database that already has paid bills and HIS refunds: every paid bill gets
its per-item counters, with the units its refunds (not the failed ones) already took."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import create_engine, text


UPGRADE = """
import os, sys
os.environ["HUEY_URL"] = "memory://"
from app import create_app
from flask_migrate import upgrade
app = create_app("test", SQLALCHEMY_DATABASE_URI=sys.argv[1])
with app.app_context():
    upgrade(revision=sys.argv[2])
"""


def _upgrade(tmp_path, url: str, revision: str) -> None:
    """Migrate in a process of its own (the back-office builder is one per process)."""
    env = dict(os.environ, INSTANCE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", UPGRADE, url, revision], capture_output=True, text=True,
                            env=env, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]


def test_0014_backfills_the_item_counters_from_paid_bills_and_their_refunds(tmp_path):
    url = f"sqlite:///{tmp_path / 'before.db'}"
    _upgrade(tmp_path, url, "0008_deposit_refunds")
    engine = create_engine(url)
    detail = {"bills": [{"bill_no": "B1", "items": [
        {"seq": 1, "quantity": 3, "unit_price_fen": 500}, {"seq": 2, "quantity": 1, "unit_price_fen": 980}]}]}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO channel_user (id, channel, channel_uid, subscribed, created_at, updated_at) "
                          "VALUES (1, 'wechat', 'u1', 0, '2026-11-01', '2026-11-01')"))
        conn.execute(text("INSERT INTO patient (id, owner_id, name, id_number, phone, card_no, relation, "
                          "is_default, status, channel, bound_at, created_at, updated_at) VALUES (1, 1, '张晓梅', "
                          "'441781199003151227', '13800138000', '8800000019', 'self', 1, 'bound', 'wechat', "
                          "'2026-11-01', '2026-11-01', '2026-11-01')"))
        conn.execute(text("INSERT INTO payment_order (id, order_no, kind, owner_id, patient_id, channel, amount_fen, "
                          "refunded_fen, description, status, his_attempts, detail_json, created_at, updated_at) "
                          "VALUES (1, 'MZ1', 'outpatient', 1, 1, 'wechat', 2480, 1480, '门诊缴费', "
                          "'partially_refunded', 1, :detail, '2026-11-01', '2026-11-01')"),
                     {"detail": json.dumps(detail)})
        conn.execute(text("INSERT INTO bill_payment (id, payment_id, bill_no, card_no, amount_fen, status, created_at, "
                          "updated_at) VALUES (1, 1, 'B1', '8800000019', 2480, 'settled', '2026-11-01', '2026-11-01')"))
        for refund_id, status in ((1, "success"), (2, "failed"), (3, "processing")):
            conn.execute(text("INSERT INTO refund (id, refund_no, payment_id, amount_fen, reason, status, "
                              "requested_by, attempts, created_at, updated_at) VALUES (:id, :no, 1, 500, '退药', "
                              ":status, 'his', 1, '2026-11-01', '2026-11-01')"),
                         {"id": refund_id, "no": f"TK{refund_id}", "status": status})
        conn.execute(text("INSERT INTO refund_item (refund_id, bill_no, item_seq, quantity, amount_fen) VALUES "
                          "(1, 'B1', 1, 1, 500), (2, 'B1', 1, 1, 500), (3, 'B1', 2, 1, 980)"))
    _upgrade(tmp_path, url, "0014_money")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT bill_payment_id, item_seq, quantity, unit_price_fen, refunded_qty "
                                 "FROM bill_payment_item ORDER BY item_seq")).all()
    assert [tuple(r) for r in rows] == [(1, 1, 3, 500, 1), (1, 2, 1, 980, 1)]  # the failed refund took nothing
    engine.dispose()
