"""Indexes for the 台账 list at scale: by state, by 分办方式, 已通报, a unit's by deadline

The desk's ticket list (CLI ``tickets list``, the web 台账) reads a page of tickets newest
first or by deadline. Filtered by 未办结 / 超期 it reads each open state through
``(state, id)`` or ``(state, due_at, id)``; by 分办方式 each routed_by value through
``(routed_by, id)`` or ``(routed_by, due_at, id)``; 已通报 by deadline through a partial
index of the escalated tickets (newest first needs none: 7–9 % of tickets are
escalated, so the newest are found near the top of the primary key; a partial index on id
made PostgreSQL scan and sort every escalated ticket for 超期 + 已通报 by deadline, 1M:
1.3 -> 230 ms); a unit's tickets by deadline through ``(unit_id, due_at, id)``.
Without them these filters sorted or scanned every ticket of the ledger. ``ix_ticket_state``
and ``ix_ticket_due_at`` are replaced by ``ix_ticket_state_id`` and ``ix_ticket_due_at_id``
(the same on SQLite, where every index ends on the rowid; on PostgreSQL they also order ties
by id, so a keyset page by deadline starts inside the index instead of sorting each day's
tickets: page 2,000 of 1M, 28 ms -> under 1).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ESCALATED = sa.text("escalated_at IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_state")
        batch_op.drop_index("ix_ticket_due_at")
        batch_op.create_index("ix_ticket_due_at_id", ["due_at", "id"], unique=False)
        batch_op.create_index("ix_ticket_state_id", ["state", "id"], unique=False)
        batch_op.create_index("ix_ticket_state_due_at", ["state", "due_at", "id"], unique=False)
        batch_op.create_index("ix_ticket_unit_due_at", ["unit_id", "due_at", "id"], unique=False)
        batch_op.create_index("ix_ticket_routed_by_id", ["routed_by", "id"], unique=False)
        batch_op.create_index(
            "ix_ticket_routed_by_due_at", ["routed_by", "due_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_ticket_escalated_due_at",
            ["due_at", "id"],
            unique=False,
            sqlite_where=ESCALATED,
            postgresql_where=ESCALATED,
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_escalated_due_at")
        batch_op.drop_index("ix_ticket_routed_by_due_at")
        batch_op.drop_index("ix_ticket_routed_by_id")
        batch_op.drop_index("ix_ticket_unit_due_at")
        batch_op.drop_index("ix_ticket_state_due_at")
        batch_op.drop_index("ix_ticket_state_id")
        batch_op.drop_index("ix_ticket_due_at_id")
        batch_op.create_index("ix_ticket_due_at", ["due_at"], unique=False)
        batch_op.create_index("ix_ticket_state", ["state"], unique=False)
