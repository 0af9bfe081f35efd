"""chat: bindings, accounts, invites, outbox deliveries, cards, drafts, inbox, bot state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("key", sa.String(length=191), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _utc("updated_at"),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "chat_button",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "chat_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        _utc("received_at"),
        _utc("handled_at", nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_inbox_message"),
    )
    with op.batch_alter_table("chat_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_chat_inbox_received_at", ["received_at"], unique=False)

    op.create_table(
        "chat_binding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=128), nullable=True),
        sa.Column("bound_by", sa.String(length=128), nullable=False),
        _utc("bound_at"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", name="uq_chat_binding_chat"),
    )
    with op.batch_alter_table("chat_binding", schema=None) as batch_op:
        batch_op.create_index("ix_chat_binding_role_unit", ["role", "unit_id"], unique=False)

    op.create_table(
        "chat_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("private_chat_id", sa.String(length=255), nullable=True),
        sa.Column("linked_via", sa.String(length=32), nullable=False),
        _utc("linked_at"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "account_id", name="uq_chat_account"),
    )
    with op.batch_alter_table("chat_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_account_person_id"), ["person_id"], unique=False)

    op.create_table(
        "chat_card",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        _utc("created_at"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_card_message"),
    )
    with op.batch_alter_table("chat_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_card_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "chat_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=255), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        _utc("created_at"),
        _utc("updated_at"),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "chat_id", "account_id", name="uq_chat_draft_sender"),
    )
    op.create_table(
        "chat_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _utc("created_at"),
        _utc("expires_at"),
        _utc("used_at", nullable=True),
        sa.Column("used_by", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "chat_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("parts_sent", sa.Integer(), nullable=False),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        _utc("next_attempt_at"),
        _utc("claimed_at", nullable=True),
        _utc("sent_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("created_at"),
        sa.ForeignKeyConstraint(["notification_id"], ["notification.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "platform", "chat_id", name="uq_chat_delivery"),
    )
    with op.batch_alter_table("chat_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_chat_delivery_due", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_delivery_due")
    op.drop_table("chat_delivery")
    op.drop_table("chat_invite")
    op.drop_table("chat_draft")
    with op.batch_alter_table("chat_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_card_ticket_id"))
    op.drop_table("chat_card")
    with op.batch_alter_table("chat_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_account_person_id"))
    op.drop_table("chat_account")
    with op.batch_alter_table("chat_binding", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_binding_role_unit")
    op.drop_table("chat_binding")
    with op.batch_alter_table("chat_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_inbox_received_at")
    op.drop_table("chat_inbox")
    op.drop_table("chat_button")
    op.drop_table("bot_state")
