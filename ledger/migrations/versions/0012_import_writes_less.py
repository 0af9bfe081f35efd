"""Less to write per imported message: bands without a foreign key, one hash index

Measured with ``bench/pipeline.py`` (PostgreSQL + 2 workers), per 1,000 messages:

- ``messageband`` holds eight rows per message, written only by the import in the same
  transaction as their message (messages are never deleted). Its foreign key checked
  each of them again: on PostgreSQL a nested ``SELECT … FOR KEY SHARE`` per band row,
  8,000 of the ~14,700 foreign-key checks, half the time of the ``COPY messageband``
  (55-70 -> 27-33 ms per 8,000 rows). The bands are a derived index of the text.
- The stored-duplicate lookup probed ``content_hash`` and ``core_hash``: the same text
  always has the same core, so it now asks by core hash alone, within the duplicate
  window, through ``(core_hash, received_at)`` (the single-column index let the planner
  scan the whole window instead, once per 900 hashes). The content-hash index served only
  that lookup: each message row (written twice, stored then marked routed) has one index
  fewer to keep.

PostgreSQL drops the key in place; SQLite copies ``messageband`` without it (alembic's
batch mode), which takes a while on a large ledger (eight rows per message).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _bands(*, with_key: bool) -> sa.Table:
    """``messageband`` as SQLite's batch mode should rebuild it."""
    message_id = (
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("message.id"), nullable=False)
        if with_key
        else sa.Column("message_id", sa.Integer(), nullable=False)
    )
    return sa.Table(
        "messageband",
        sa.MetaData(),
        message_id,
        sa.Column("band", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "band"),
        sa.Index("ix_messageband_value_day", "value", "day"),
    )


def upgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index(
            "ix_message_core_hash_received_at", ["core_hash", "received_at"], unique=False
        )
        batch_op.drop_index("ix_message_core_hash")
        batch_op.drop_index("ix_message_content_hash")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            "messageband", recreate="always", copy_from=_bands(with_key=False)
        ):
            pass
        return
    for key in sa.inspect(bind).get_foreign_keys("messageband"):
        if key["name"]:  # PostgreSQL names every constraint (messageband_message_id_fkey)
            op.drop_constraint(key["name"], "messageband", type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            "messageband", recreate="always", copy_from=_bands(with_key=True)
        ):
            pass
    else:
        op.create_foreign_key(
            "messageband_message_id_fkey", "messageband", "message", ["message_id"], ["id"]
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_content_hash", ["content_hash"], unique=False)
        batch_op.create_index("ix_message_core_hash", ["core_hash"], unique=False)
        batch_op.drop_index("ix_message_core_hash_received_at")
