"""Registration moved to ``app/registration/`` (issue 18): commands, queries, rules, states, notices.

A thin re-export for the callers outside registration's owners (the API's HIS events, the back-office,
the CLI, the demo, the benchmark); new code imports from ``app.registration``.
"""

from __future__ import annotations

from app.registration.commands import (  # noqa: F401
    STALE_HOLD_SECONDS,
    AttendanceSweep,
    BookingResult,
    RegistrationKind,
    StopOutcome,
    _end,
    book,
    confirm_free,
    cancel_by_patient,
    cancel_by_staff,
    handle_his_event,
    lock_failed,
    mark_attendance_by_staff,
    record_attendance,
    release_place,
    release_stale_holds,
    remind_tomorrows_visits,
    stop_clinic,
    sweep_attendance,
    take_place,
)
from app.registration.queries import (  # noqa: F401
    ORDER_FILTERS,
    active_orders_for,
    bookable_slice,
    can_rebook,
    describe,
    history,
    next_open_slots,
    orders_of,
    owned_order,
    payment_of,
)
from app.registration.rules import (  # noqa: F401
    HALF_DAY_NAMES,
    WHAT_TO_BRING,
    BookingBlocked,
    SlotTaken,
    age_on,
    can_cancel,
    check_department_allows,
    check_patient_limits,
    hospital_now,
    last_open_date,
    no_show_barred_until,
    open_dates,
    payment_minutes,
    registration_kind,
    session_over_at,
    slice_over,
    slot_start,
)
from app.registration.states import ATTENDANCE as ATTENDANCE_OUTCOMES  # noqa: F401
from app.registration.states import LIVE as ACTIVE  # noqa: F401
from app.registration.states import STOPPABLE  # noqa: F401
from app.services.settings import BookingRules, booking_rules  # noqa: F401

_slice_for_booking = bookable_slice
_describe = describe
_confirm_free = confirm_free
