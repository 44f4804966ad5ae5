"""The migrations build exactly the schema the models describe (on SQLite and on MariaDB)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

from app.extensions import db


def test_migrations_match_models(app):
    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Model.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_domain_table_exists(app):
    from sqlalchemy import inspect

    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    for name in ("channel_user", "patient", "department", "doctor", "schedule",
                 "schedule_slice", "appointment_order", "payment_order", "refund", "notification",
                 "audit_log", "state_transition", "ab_user", "ab_role"):
        assert name in tables


def test_slice_capacity_guard_is_in_the_database(app, ctx):
    """booked may never exceed capacity, whatever Python does: the CHECK constraint refuses it."""
    import datetime as dt

    import pytest
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError, OperationalError

    from app.models import ScheduleSlice
    from tests import factories

    sl = factories.schedule(clinic_date=dt.date(2026, 12, 1), capacity=1, booked=1).slices[0]
    db.session.commit()
    with pytest.raises((IntegrityError, OperationalError)):
        db.session.execute(update(ScheduleSlice).where(ScheduleSlice.id == sl.id).values(booked=2))
        db.session.commit()
    db.session.rollback()
