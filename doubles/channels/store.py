"""The sandbox channels' state in one small SQLite file, shared by every process that serves it.

Amounts are integer fen; channel-facing times are ISO strings in China time; scheduling times
are epoch seconds. Every state change is a conditional UPDATE on the expected state, so two
processes confirming the same cashier page pay the order once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS wx_transactions (
    out_trade_no TEXT PRIMARY KEY,
    appid TEXT NOT NULL,
    mchid TEXT NOT NULL,
    description TEXT NOT NULL,
    total INTEGER NOT NULL,
    openid TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    time_expire TEXT,
    prepay_id TEXT NOT NULL UNIQUE,
    transaction_id TEXT UNIQUE,
    trade_state TEXT NOT NULL,
    success_time TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS wx_refunds (
    out_refund_no TEXT PRIMARY KEY,
    refund_id TEXT NOT NULL UNIQUE,
    out_trade_no TEXT NOT NULL REFERENCES wx_transactions(out_trade_no),
    refund INTEGER NOT NULL,
    total INTEGER NOT NULL,
    reason TEXT,
    notify_url TEXT,
    status TEXT NOT NULL,
    create_time TEXT NOT NULL,
    success_time TEXT,
    complete_after REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ali_trades (
    out_trade_no TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    total_fen INTEGER NOT NULL,
    trade_no TEXT NOT NULL UNIQUE,
    trade_status TEXT NOT NULL,
    notify_url TEXT,
    return_url TEXT,
    quit_url TEXT,
    time_expire TEXT,
    cashier_token TEXT NOT NULL,
    gmt_create TEXT NOT NULL,
    gmt_payment TEXT,
    gmt_close TEXT
);
CREATE TABLE IF NOT EXISTS ali_refunds (
    out_trade_no TEXT NOT NULL REFERENCES ali_trades(out_trade_no),
    out_request_no TEXT NOT NULL,
    refund_fen INTEGER NOT NULL,
    reason TEXT,
    gmt_refund TEXT NOT NULL,
    PRIMARY KEY (out_trade_no, out_request_no)
);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    order_no TEXT NOT NULL,
    refund_no TEXT,
    url TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status TEXT,
    delivered_at REAL,
    next_attempt_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_notifications_due ON notifications (next_attempt_at);
CREATE TABLE IF NOT EXISTS bills (
    token TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    content BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""


def sqlite_path(url_or_path: str | Path) -> Path:
    """Accept ``sqlite:///relative.db``, ``sqlite:////abs.db`` or a plain path."""
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///"):]
    elif "://" in text:
        raise ValueError(f"the sandbox keeps its state in SQLite, not {text!r}")
    return Path(text)


class SandboxStore:
    """Connections to the sandbox state file; the schema is created on first open."""

    def __init__(self, url_or_path: str | Path) -> None:
        self.path = sqlite_path(url_or_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=15, isolation_level=None)
        conn.row_factory = sqlite3.Row
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): commit on success, roll back on error."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def one(self, sql: str, *args: object) -> sqlite3.Row | None:
        """First row of a read query."""
        conn = self._connect()
        try:
            return conn.execute(sql, args).fetchone()
        finally:
            conn.close()

    def all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        """All rows of a read query."""
        conn = self._connect()
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
