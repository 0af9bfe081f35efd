"""年度考评: 评议 rounds, raters, ratings, 书面点评 and 一问

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("unit_ids", sa.JSON(), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("closed_by", sa.String(length=128), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("year"),
    )
    op.create_table(
        "review_rater",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("group", sa.String(length=32), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", TZ, nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["review_round.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "code", name="uq_review_rater_code"),
    )
    op.create_index("ix_review_rater_round_id", "review_rater", ["round_id"])
    op.create_table(
        "review_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("rater_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["review_round.id"]),
        sa.ForeignKeyConstraint(["rater_id"], ["review_rater.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rater_id", "unit_id", name="uq_review_rating_unit"),
    )
    op.create_index("ix_review_rating_round_id", "review_rating", ["round_id"])
    op.create_table(
        "review_remark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["review_round.id"]),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "unit_id", name="uq_review_remark_unit"),
    )
    op.create_index("ix_review_remark_round_id", "review_remark", ["round_id"])
    op.create_table(
        "review_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("asked_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_review_question_year", "review_question", ["year"])


def downgrade() -> None:
    op.drop_index("ix_review_question_year", table_name="review_question")
    op.drop_table("review_question")
    op.drop_index("ix_review_remark_round_id", table_name="review_remark")
    op.drop_table("review_remark")
    op.drop_index("ix_review_rating_round_id", table_name="review_rating")
    op.drop_table("review_rating")
    op.drop_index("ix_review_rater_round_id", table_name="review_rater")
    op.drop_table("review_rater")
    op.drop_table("review_round")
