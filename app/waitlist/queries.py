"""What the waitlist pages read: the account's entries with their place in the queue."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import AppointmentOrder, WaitlistEntry
from app.waitlist.states import WaitlistStatus as S


@dataclass(frozen=True)
class EntryView:
    entry: WaitlistEntry
    position: int | None           # 1 = next in line; None once no longer waiting
    order: AppointmentOrder | None


def position(entry: WaitlistEntry) -> int | None:
    if entry.status != S.WAITING:
        return None
    return int(db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.schedule_id == entry.schedule_id, WaitlistEntry.status == S.WAITING,
        WaitlistEntry.id <= entry.id)) or 0)


def entries_of(owner_id: int, limit: int = 50) -> list[EntryView]:
    rows = db.session.scalars(select(WaitlistEntry).where(WaitlistEntry.owner_id == owner_id)
                              .order_by(WaitlistEntry.id.desc()).limit(limit)).all()
    return [EntryView(e, position(e), db.session.get(AppointmentOrder, e.order_id) if e.order_id else None)
            for e in rows]


def waiting_count(schedule_id: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.schedule_id == schedule_id, WaitlistEntry.status == S.WAITING)) or 0)
