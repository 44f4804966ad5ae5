"""The repair request's state machine (数据维护申请): a table you can read at a glance, and its guarded move.

    proposed ──approve (another Admin)──> applied      (the change is made in the same unit of work)
        │    ──approve, but the order moved on──> failed (nothing changed; the reason is kept)
        │    ──reject (another Admin)──> rejected
        └────withdraw (the proposer)──> withdrawn

Every state but ``proposed`` is final: a repair is applied at most once.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update

from app.extensions import db


class RepairStatus(StrEnum):
    PROPOSED = "proposed"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class RepairKind(StrEnum):
    CONTACT = "contact"          # 更正就诊人联系电话
    ATTENDANCE = "attendance"    # 更正就诊情况 (已就诊 / 爽约)
    STATE = "state"              # 处理卡住的订单状态 (only along the order machine's allowed edges)


REPAIR = {
    RepairStatus.PROPOSED: frozenset({RepairStatus.APPLIED, RepairStatus.FAILED, RepairStatus.REJECTED,
                                      RepairStatus.WITHDRAWN}),
    RepairStatus.APPLIED: frozenset(),
    RepairStatus.FAILED: frozenset(),
    RepairStatus.REJECTED: frozenset(),
    RepairStatus.WITHDRAWN: frozenset(),
}
FINAL = frozenset(s for s, nxt in REPAIR.items() if not nxt)


class IllegalRepairMove(Exception):
    """A move the table does not allow (a programming error, never a race)."""


def move(request_id: int, to: RepairStatus, *, decided_by_id: int, not_by_id: int | None = None, **values) -> bool:
    """``proposed -> to`` if the request is still proposed (and, when ``not_by_id`` is given, was not
    proposed by that person: the four-eyes rule is in the UPDATE itself). False when it lost."""
    from app.operations.models import RepairRequest

    if to not in REPAIR[RepairStatus.PROPOSED]:
        raise IllegalRepairMove(f"repair: proposed -> {to} is not allowed")
    where = [RepairRequest.id == request_id, RepairRequest.status == RepairStatus.PROPOSED.value]
    if not_by_id is not None:
        where.append(RepairRequest.proposed_by_id != not_by_id)
    result = db.session.execute(update(RepairRequest).where(*where)
                                .values(status=to.value, decided_by_id=decided_by_id, **values)
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1
