"""候补 (waitlist): a session made full on the platform's side."""

from __future__ import annotations

from sqlalchemy import select, update

from app.extensions import db
from app.models import ScheduleSlice


def fill_session(schedule_id: int, keep_free: int = 0) -> None:
    """Make a session full on the platform's side (the HIS still has room: the tests pay and lock there)."""
    slices = db.session.scalars(select(ScheduleSlice).where(ScheduleSlice.schedule_id == schedule_id)
                                .order_by(ScheduleSlice.id)).all()
    for i, s in enumerate(slices):
        if i >= keep_free:
            db.session.execute(update(ScheduleSlice).where(ScheduleSlice.id == s.id).values(booked=s.capacity))
    db.session.commit()
