"""Indexes for the reports at scale: events by moment, tickets by deadline

``load_histories`` keeps only the tickets that can touch a report's periods: those with a
step since the earliest period's start (``event.at``) and those whose deadline in force falls
in or after it (``ticket.due_date``). Without these indexes both are full-table scans.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_at_ticket", ["at", "ticket_id"], unique=False)
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_due_date", ["due_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_due_date")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index("ix_event_at_ticket")
