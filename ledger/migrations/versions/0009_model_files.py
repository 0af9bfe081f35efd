"""model_file, model_file_part: a promoted classifier version's files kept in the ledger

A worker on another machine fetches the promoted model from the ledger (and caches it in
its own DUBAN_HOME), instead of reading a model folder shared between machines; backups of
the ledger carry the model. Each file is stored once per version, in chunks of at most
1 MiB (bytea on PostgreSQL, BLOB on SQLite). Versions promoted before this migration are
stored the next time a process that has their folder loads or promotes them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version", "name", name="uq_model_file_version_name"),
    )
    op.create_table(
        "model_file_part",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["model_file.id"]),
        sa.PrimaryKeyConstraint("file_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("model_file_part")
    op.drop_table("model_file")
