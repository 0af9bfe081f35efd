"""The tables of the 台账 (sqlmodel).

Timestamps are ``UTCDateTime``: aware UTC in, aware UTC out, on SQLite and PostgreSQL.
The complainant's identity lives in ``Complainant``, apart from the message content, so
anything a unit receives can be built without touching it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ledger.types import UTCDateTime


class SourceKind(StrEnum):
    """Where a message came from (来源)."""

    ONLINE = "online"  # 网民留言
    LETTER = "letter"  # 群众来信
    INSTRUCTION = "instruction"  # 批示件
    OTHER = "other"  # 其他
    QUESTION = "question"  # 代表提问: 一问 of the annual review (review.questions)

    @property
    def label(self) -> str:
        return SOURCE_LABELS[self]

    @classmethod
    def parse(cls, value: str) -> SourceKind:
        """Accept the English code or the Chinese label (网民留言, 群众来信, 批示件, 其他,
        代表提问)."""
        text = (value or "").strip()
        for kind, label in SOURCE_LABELS.items():
            if text in (kind.value, label):
                return kind
        aliases = {"留言": cls.ONLINE, "来信": cls.LETTER, "批示": cls.INSTRUCTION}
        if text in aliases:
            return aliases[text]
        raise ValueError(
            f"unknown source kind {value!r} (网民留言 / 群众来信 / 批示件 / 其他 / 代表提问)"
        )


SOURCE_LABELS = {
    SourceKind.ONLINE: "网民留言",
    SourceKind.LETTER: "群众来信",
    SourceKind.INSTRUCTION: "批示件",
    SourceKind.OTHER: "其他",
    SourceKind.QUESTION: "代表提问",
}


class Role(StrEnum):
    INTAKE = "intake"  # 录入员
    MEMBER = "member"  # 单位经办人
    LEADER = "leader"  # 单位负责人
    SUPERVISOR = "supervisor"  # 督查人员
    ADMIN = "admin"  # 管理员
    DISTRICT_LEADER = "district_leader"  # 区领导: a task's 牵头领导 (may 销号 it)


ROLE_LABELS = {
    Role.INTAKE: "录入员",
    Role.MEMBER: "经办人",
    Role.LEADER: "单位负责人",
    Role.SUPERVISOR: "督查员",
    Role.ADMIN: "管理员",
    Role.DISTRICT_LEADER: "区领导",
}


class TicketState(StrEnum):
    REGISTERED = "registered"  # 立项, waiting for routing or triage
    ASSIGNED = "assigned"  # 交办
    ACKNOWLEDGED = "acknowledged"  # 签收
    REPLIED = "replied"  # 反馈
    VERIFIED = "verified"  # 核查通过
    ARCHIVED = "archived"  # 归档
    RETURNED = "returned"  # 退回, back in triage for re-assignment
    REOPENED = "reopened"  # 续办 after a failed check

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    TicketState.REGISTERED: "已立项",
    TicketState.ASSIGNED: "已交办",
    TicketState.ACKNOWLEDGED: "已签收",
    TicketState.REPLIED: "已反馈",
    TicketState.VERIFIED: "已核查",
    TicketState.ARCHIVED: "已归档",
    TicketState.RETURNED: "已退回",
    TicketState.REOPENED: "续办中",
}


class MessageStatus(StrEnum):
    RECEIVED = "received"  # stored, not yet routed (a job or the sweeper will route it)
    ROUTED = "routed"  # a ticket exists for it
    DUPLICATE = "duplicate"  # linked to an earlier message's ticket as 重复件


class ExtensionStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"


class Audience(StrEnum):
    """Who an outbox row is for: a unit's chats, the supervisors, the intake desk, a person."""

    UNIT = "unit"
    SUPERVISORS = "supervisors"
    INTAKE = "intake"
    PERSON = "person"  # the private chats of ``Notification.person_id``


class NotificationStatus(StrEnum):
    """Where an outbox row stands (``Notification.status``)."""

    PENDING = "pending"  # written, not yet fanned out to chats
    QUEUED = "queued"  # one ``ChatDelivery`` per chat made, being sent
    UNBOUND = "unbound"  # no chat is bound for its audience yet: waits for a binding
    SENT = "sent"  # every delivery sent
    FAILED = "failed"  # a delivery failed for good (``duban outbox retry``)
    OUTDATED = "outdated"  # a reminder the ticket moved past before it could be sent


class DeliveryStatus(StrEnum):
    """Where one chat's copy of an outbox row stands (``ChatDelivery.status``)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed by a bot process (a lease)
    SENT = "sent"
    FAILED = "failed"


def column_size(model: type[SQLModel], field: str) -> int:
    """How many characters a string column holds: PostgreSQL refuses more (SQLite does
    not), so values from outside are fitted or refused against this, never a copy of it."""
    return model.__table__.c[field].type.length  # type: ignore[attr-defined]


class Unit(SQLModel, table=True):
    """A 责任单位 (or the supervision desk itself)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=128, unique=True)
    short_name: str = Field(max_length=64)
    aliases: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parent_id: int | None = Field(default=None, foreign_key="unit.id")
    kind: str = Field(default="department", max_length=16)  # department | street | desk
    active: bool = True


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True

    def has_role(self, *roles: Role) -> bool:
        return any(role.value in self.roles for role in roles)


class Message(SQLModel, table=True):
    """Something received: a 网民留言, a 群众来信, a 批示件. Never deleted."""

    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_message_channel_external"),
        # the import's stored-duplicate lookup: a core hash within the duplicate window
        # (migration 0012; no index on content_hash: a content match is a core match)
        Index("ix_message_core_hash_received_at", "core_hash", "received_at"),
        Index("ix_message_status", "status"),
        Index("ix_message_received_at", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_kind: str = Field(default=SourceKind.ONLINE.value, max_length=16)
    channel: str = Field(max_length=64)  # import:<file>, paste, telegram, matrix, cli …
    external_id: str | None = Field(default=None, max_length=128)
    received_at: datetime = Field(sa_type=UTCDateTime)
    submitter: str | None = Field(default=None, max_length=128)  # who filed it (staff / chat)
    title: str | None = Field(default=None, sa_column=Column(Text))
    raw_text: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))  # normalised
    # What a unit sees: ``text`` with the complainant's personal data masked.
    unit_text: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str = Field(max_length=64)  # of the normalised text
    # Of the text stripped of greetings, closings and punctuation: reposts share it.
    core_hash: str | None = Field(default=None, max_length=64)
    duplicate_of_id: int | None = Field(default=None, foreign_key="message.id")
    has_time_limit: bool = False  # a 批示件 that sets a limit (限期)
    time_limit_days: int | None = None  # … and the number of working days, when it gives one
    status: str = Field(default=MessageStatus.RECEIVED.value, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)


class MessageBand(SQLModel, table=True):
    """Locality-sensitive hash bands of a message (MinHash), to find near-duplicates fast.

    ``value`` folds the band number in; ``day`` is the day of receipt (days since
    1970-01-01, UTC), so the index on (value, day) finds the candidates within the
    duplicate window without reading a ledger's whole history.

    ``message_id`` has no foreign key (migration 0012): the rows are written only with
    their message, in the same transaction, and messages are never deleted; checking each
    of the eight rows per message again cost half of their ``COPY`` on PostgreSQL.
    """

    __table_args__ = (Index("ix_messageband_value_day", "value", "day"),)

    message_id: int = Field(primary_key=True)
    band: int = Field(primary_key=True)
    value: int = Field(sa_type=BigInteger)
    day: int


class Complainant(SQLModel, table=True):
    """Who sent a message and how to reach them: staff see it, units never do."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", unique=True)
    name: str | None = Field(default=None, max_length=128)
    contact: str | None = Field(default=None, max_length=256)
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Ticket(SQLModel, table=True):
    """One tracked 督办 item, opened for one message."""

    __table_args__ = (
        # the 台账 by state (未办结 / 超期 read each open state newest first or by deadline)
        Index("ix_ticket_state_id", "state", "id"),
        Index("ix_ticket_state_due_at", "state", "due_at", "id"),
        Index("ix_ticket_unit_state", "unit_id", "state"),
        # the 台账 by deadline, ties by id (a keyset page starts inside the index on both)
        Index("ix_ticket_due_at_id", "due_at", "id"),
        # a unit's tickets newest first (the web 台账 of a unit), without sorting them all
        Index("ix_ticket_unit_id_id", "unit_id", "id"),
        Index("ix_ticket_unit_due_at", "unit_id", "due_at", "id"),  # … by deadline
        # reports: the tickets whose deadline in force falls in or after a period
        Index("ix_ticket_due_date", "due_date"),
        # the 台账 by 分办方式 (one index range per routed_by value, newest first or by
        # deadline) and 已通报 by deadline (partial: the escalated tickets only)
        Index("ix_ticket_routed_by_id", "routed_by", "id"),
        Index("ix_ticket_routed_by_due_at", "routed_by", "due_at", "id"),
        Index(
            "ix_ticket_escalated_due_at",
            "due_at",
            "id",
            sqlite_where=text("escalated_at IS NOT NULL"),
            postgresql_where=text("escalated_at IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)  # DB-2026-000123
    message_id: int = Field(foreign_key="message.id", unique=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    state: str = Field(default=TicketState.REGISTERED.value, max_length=16)
    source_kind: str = Field(max_length=16)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The deadline in force (end of the due day in the office's zone) and the first one.
    due_date: date
    due_at: datetime = Field(sa_type=UTCDateTime)
    original_due_date: date
    original_due_at: datetime = Field(sa_type=UTCDateTime)
    limit_days: int  # working days the rule gave
    deadline_provisional: bool = False  # counted Mon–Fri through a year with no calendar
    extension_days: int = 0  # approved working days added
    # How it was routed: "classifier", "rule:<name>", "triage", "manual".
    routed_by: str | None = Field(default=None, max_length=128)
    classifier_version: str | None = Field(default=None, max_length=64)
    confidence: float | None = None
    suggestions: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    excluded_units: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # units that sent it back (退回) and are not suggested again
    quality_score: int | None = None  # last 核查 rating, 1–5
    reopen_count: int = 0
    return_count: int = 0
    duplicate_count: int = 0
    version: int = 1  # bumped on every transition (optimistic concurrency)


class Extension(SQLModel, table=True):
    """A request for more working days (申请延期) and its decision."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    days: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=ExtensionStatus.REQUESTED.value, max_length=16)
    requested_by_id: int | None = Field(default=None, foreign_key="person.id")
    requested_at: datetime = Field(sa_type=UTCDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    granted_days: int | None = None
    old_due_date: date | None = None
    new_due_date: date | None = None


class Reply(SQLModel, table=True):
    """A unit's 反馈 on a ticket; several parts may make one reply."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="person.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    quality: int | None = None  # 核查 rating 1–5 given to this reply
    round: int = 1  # 1 for the first answer, 2 after one 续办, …


class Event(SQLModel, table=True):
    """Append-only history: who did what to which ticket, when, with the note."""

    __table_args__ = (
        Index("ix_event_ticket", "ticket_id", "id"),
        # reports: the tickets with a step since a period's start, read from the index alone
        Index("ix_event_at_ticket", "at", "ticket_id"),
        # the 台账 filtered by 办理人: has this person taken a step on this ticket (system
        # steps, a third of the events, carry no actor and stay out of the index)
        Index(
            "ix_event_actor_ticket",
            "actor_id",
            "ticket_id",
            sqlite_where=text("actor_id IS NOT NULL"),
            postgresql_where=text("actor_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    actor: str = Field(max_length=128)  # display: person name (code) or "system:<who>"
    unit_id: int | None = Field(default=None, foreign_key="unit.id")  # unit at that moment
    note: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_type=UTCDateTime)


class TrainingLabel(SQLModel, table=True):
    """A staff decision about which unit a message belongs to (triage, 退回 re-routing)."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    source: str = Field(max_length=32)  # triage | reassign | return | import
    rejected_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(sa_type=UTCDateTime)


class ModelPromotion(SQLModel, table=True):
    """A classifier version made the one routing uses, with its model file's sha256: the
    runtime loads a promoted model only when its file still has this hash."""

    __tablename__ = "model_promotion"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=128, index=True)
    sha256: str = Field(max_length=64)
    promoted_at: datetime = Field(sa_type=UTCDateTime)
    promoted_by: str = Field(max_length=128)
    forced: bool = False
    action: str = Field(default="promote", max_length=16)  # promote | rollback


class ModelFile(SQLModel, table=True):
    """A file of a promoted classifier version (the model, its manifest, report, training
    rows), kept in the ledger so a worker on any machine can fetch it and backups carry it.
    Stored once per version and file name; its bytes are in ``ModelFilePart`` chunks."""

    __tablename__ = "model_file"
    __table_args__ = (UniqueConstraint("version", "name", name="uq_model_file_version_name"),)

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=128)
    name: str = Field(max_length=64)  # model.joblib | manifest.json | report.json | rows.tsv
    sha256: str = Field(max_length=64)
    size: int = Field(sa_type=BigInteger)
    parts: int
    stored_at: datetime = Field(sa_type=UTCDateTime)


class ModelFilePart(SQLModel, table=True):
    """One chunk (at most 1 MiB) of a ``ModelFile``: read and written one at a time, so a
    16 MB model never sits whole in a query result."""

    __tablename__ = "model_file_part"

    file_id: int = Field(foreign_key="model_file.id", primary_key=True)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Notification(SQLModel, table=True):
    """The outbox: what the bots must deliver. Workers write rows; bots send them."""

    __table_args__ = (Index("ix_notification_pending", "status", "not_before"),)

    id: int | None = Field(default=None, primary_key=True)
    # A stable key so the same reminder is never written twice (e.g. "remind:12:2026-11-20").
    dedupe_key: str = Field(max_length=160, unique=True)
    kind: str = Field(max_length=32)  # assigned | reminder | overdue | escalation | report | …
    audience: str = Field(max_length=32)  # Audience
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=NotificationStatus.PENDING.value, max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    not_before: datetime = Field(sa_type=UTCDateTime)


class Counter(SQLModel, table=True):
    """Sequences such as the per-year ticket number."""

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


# -- chat (bots): bindings, accounts, delivery, conversation state ---------------------------


class ChatBinding(SQLModel, table=True):
    """A chat (Telegram group, Matrix room, console chat) bound to a unit, intake or supervisors."""

    __tablename__ = "chat_binding"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", name="uq_chat_binding_chat"),
        Index("ix_chat_binding_role_unit", "role", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)  # telegram | matrix | console
    chat_id: str = Field(max_length=255)
    role: str = Field(max_length=16)  # unit | intake | supervisors
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    title: str | None = Field(default=None, max_length=128)
    bound_by: str = Field(max_length=128)
    bound_at: datetime = Field(sa_type=UTCDateTime)


class ChatAccount(SQLModel, table=True):
    """A person's account on a chat platform; one person may have several."""

    __tablename__ = "chat_account"
    __table_args__ = (UniqueConstraint("platform", "account_id", name="uq_chat_account"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    account_id: str = Field(max_length=255)  # Telegram user id / Matrix MXID
    person_id: int = Field(foreign_key="person.id", index=True)
    private_chat_id: str | None = Field(default=None, max_length=255)  # a 1:1 chat with the bot
    linked_via: str = Field(max_length=32)  # invite | cli | console
    linked_at: datetime = Field(sa_type=UTCDateTime)


class ChatInvite(SQLModel, table=True):
    """A one-time code that links the chat account which sends it to a person."""

    __tablename__ = "chat_invite"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    person_id: int = Field(foreign_key="person.id")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by: str | None = Field(default=None, max_length=255)  # platform:account


class ChatDelivery(SQLModel, table=True):
    """One outbox row on its way to one chat: claimed, sent part by part, marked sent."""

    __tablename__ = "chat_delivery"
    __table_args__ = (
        UniqueConstraint("notification_id", "platform", "chat_id", name="uq_chat_delivery"),
        Index("ix_chat_delivery_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notification.id")
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=255)
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=16)
    attempts: int = 0
    parts_sent: int = 0  # long texts go in numbered parts; a retry resumes after the last
    message_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_type=UTCDateTime)


class ChatCard(SQLModel, table=True):
    """A message the bot sent about a ticket: replying to it names that ticket."""

    __tablename__ = "chat_card"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_card_message"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=255)
    message_id: str = Field(max_length=255)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ChatDraft(SQLModel, table=True):
    """A command waiting for more text from one person in one chat (e.g. a multi-part reply)."""

    __tablename__ = "chat_draft"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "account_id", name="uq_chat_draft_sender"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=255)
    account_id: str = Field(max_length=255)
    command: str = Field(max_length=64)  # "/回复 DB-2026-000123"
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    parts: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ChatInbox(SQLModel, table=True):
    """Messages received from chats: a re-delivered one (after a restart) is not handled twice."""

    __tablename__ = "chat_inbox"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id", name="uq_chat_inbox_message"),
        Index("ix_chat_inbox_received_at", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=255)
    message_id: str = Field(max_length=255)
    received_at: datetime = Field(sa_type=UTCDateTime)
    handled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)


class ChatButton(SQLModel, table=True):
    """A button's command too long for the platform's callback data, kept under a short key."""

    __tablename__ = "chat_button"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32, unique=True)
    command: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)


class BotState(SQLModel, table=True):
    """Small key-value state of the bot processes: update offsets, sync tokens, refusals."""

    __tablename__ = "bot_state"

    key: str = Field(primary_key=True, max_length=191)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_type=UTCDateTime)


# -- web desk: passwords, sessions, API tokens, login links, throttling, saved views ---------


class WebPassword(SQLModel, table=True):
    """A person's web password (argon2 hash); a person without one cannot log in by password."""

    __tablename__ = "web_password"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    password_hash: str = Field(max_length=255)
    set_at: datetime = Field(sa_type=UTCDateTime)
    set_by: str = Field(max_length=128)


class WebSession(SQLModel, table=True):
    """A logged-in browser: the cookie holds a secret, the ledger only its sha256."""

    __tablename__ = "web_session"
    __table_args__ = (Index("ix_web_session_person", "person_id", "revoked_at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id")
    csrf_token: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A personal access token for ``/api/v1``; only its sha256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)  # the first characters, to tell tokens apart
    person_id: int = Field(foreign_key="person.id", index=True)
    label: str | None = Field(default=None, max_length=128)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginLink(SQLModel, table=True):
    """A one-time login link (sent by the bot on /登录): single use, short-lived."""

    __tablename__ = "login_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id")
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """A failed (or successful) login, kept so throttling works across web processes."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_person_at", "person_code", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_code: str = Field(max_length=64)
    address: str = Field(max_length=64)
    ok: bool = False
    at: datetime = Field(sa_type=UTCDateTime)


class SavedView(SQLModel, table=True):
    """A named 台账 filter (the list page's query string), the owner's or shared."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("person_id", "name", name="uq_saved_view_name"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    name: str = Field(max_length=64)
    query: str = Field(sa_column=Column(Text, nullable=False))
    shared: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)


# -- leaders' key tasks (督办事项): 重点工作, 周交办, 责任清单 ----------------------------------


class Task(SQLModel, table=True):
    """A 督办事项 the leadership assigned: one lead unit (牵头单位), any supporting units
    (配合单位), a 牵头领导, a final deadline (or 长期 with a reporting cadence), milestones."""

    __table_args__ = (
        Index("ix_task_state", "state"),
        Index("ix_task_lead_unit_state", "lead_unit_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=32, unique=True)  # RW-2026-0001
    title: str = Field(sa_column=Column(Text, nullable=False))
    requirements: str | None = Field(default=None, sa_column=Column(Text))
    source_kind: str = Field(max_length=16)  # tasks.model.TaskSource
    source_ref: str | None = Field(default=None, max_length=255)  # meeting or document
    leader_id: int | None = Field(default=None, foreign_key="person.id")  # 牵头领导
    leader_name: str | None = Field(default=None, max_length=64)  # as the list wrote it
    lead_unit_id: int = Field(foreign_key="unit.id")
    support_unit_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    state: str = Field(default="registered", max_length=16)
    ongoing: bool = False  # 长期: no final deadline, reports at the cadence
    limit_days: int | None = None  # N working days from 交办 (when no date was given)
    due_date: date | None = None
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    original_due_date: date | None = None
    report_every_days: int | None = None  # cadence in working days (None: the policy's)
    report_monthly: bool = False  # cadence: one report a month (长期 / 每月)
    created_at: datetime = Field(sa_type=UTCDateTime)
    assigned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_report_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # 办结 report
    verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # 销号
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    quality_score: int | None = None  # last 核查 rating, 1–5
    reopen_count: int = 0
    remind_count: int = 0
    extension_days: int = 0
    import_key: str | None = Field(default=None, max_length=64, unique=True)  # re-import
    version: int = 1


class TaskMilestone(SQLModel, table=True):
    """A 节点 of a task with its own deadline; a 进展 report naming it marks it done."""

    __tablename__ = "task_milestone"
    __table_args__ = (UniqueConstraint("task_id", "seq", name="uq_task_milestone_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    seq: int
    title: str = Field(max_length=255)
    due_date: date
    due_at: datetime = Field(sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TaskReport(SQLModel, table=True):
    """A unit's 进展 or 办结 report on a task (the lead unit's or a 配合单位's)."""

    __tablename__ = "task_report"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    author_id: int | None = Field(default=None, foreign_key="person.id")
    kind: str = Field(max_length=16)  # progress | finish
    text: str = Field(sa_column=Column(Text, nullable=False))
    milestone_seq: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    round: int = 1
    quality: int | None = None


class TaskExtension(SQLModel, table=True):
    """A request for more working days on a task's deadline, and its decision."""

    __tablename__ = "task_extension"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    days: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=ExtensionStatus.REQUESTED.value, max_length=16)
    requested_by_id: int | None = Field(default=None, foreign_key="person.id")
    requested_at: datetime = Field(sa_type=UTCDateTime)
    decided_by_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    granted_days: int | None = None
    old_due_date: date | None = None
    new_due_date: date | None = None


class TaskEvent(SQLModel, table=True):
    """Append-only history of a task, as ``Event`` is of a ticket: one row per move."""

    __tablename__ = "task_event"
    __table_args__ = (Index("ix_task_event_task", "task_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id")
    action: str = Field(max_length=32)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = Field(max_length=16)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    actor: str = Field(max_length=128)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    note: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(sa_type=UTCDateTime)


class UnitFlag(SQLModel, table=True):
    """A unit's place in one month's 月讲评 within its group: the flag history (红黄旗流动)."""

    __tablename__ = "unit_flag"
    __table_args__ = (UniqueConstraint("month", "unit_id", name="uq_unit_flag_month_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    month: str = Field(max_length=7)  # 2026-11
    unit_id: int = Field(foreign_key="unit.id", index=True)
    group: str = Field(max_length=16)  # the unit's kind
    rank: int | None = None
    score: float | None = None
    flag: str | None = Field(default=None, max_length=8)  # 红旗 | 黄旗
    last: bool = False  # last in its group this month
    accountability: bool = False  # 问责提示: last two months running
    recorded_at: datetime = Field(sa_type=UTCDateTime)


class CheckinPost(SQLModel, table=True):
    """A 晒 (一日三晒): what one person posted in a check-in window, with photos; the
    spot check (抽查) of it is kept on the row."""

    __tablename__ = "checkin_post"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "message_id", name="uq_checkin_post_message"),
        Index("ix_checkin_post_day", "day", "person_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    chat_id: str = Field(max_length=255)
    message_id: str = Field(max_length=255)
    person_id: int = Field(foreign_key="person.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")  # unit at that moment
    group_key: str = Field(max_length=64)  # the check-in group (policy checkins.groups)
    day: date  # the working day of the window it counts for
    window: str = Field(max_length=16)  # 早晒 | 午晒 | 晚晒
    late: bool = False  # posted outside the window (counts for the nearest one)
    text: str = Field(sa_column=Column(Text, nullable=False))
    task_id: int | None = Field(default=None, foreign_key="task.id")
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    photos: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )  # [{sha256, path (under DUBAN_HOME), mime, size}]
    location: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    posted_at: datetime = Field(sa_type=UTCDateTime)
    check_state: str | None = Field(default=None, max_length=16)  # marked | true | false
    check_note: str | None = Field(default=None, sa_column=Column(Text))
    checked_by_id: int | None = Field(default=None, foreign_key="person.id")
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CheckinDigest(SQLModel, table=True):
    """The 要情快讯 of one working day: the posts chosen, in order; 第N期 once published."""

    __tablename__ = "checkin_digest"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True)
    issue: int | None = Field(default=None, unique=True)  # 第N期, given at publishing
    state: str = Field(default="draft", max_length=16)  # draft | published
    post_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    compiled_at: datetime = Field(sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    published_by_id: int | None = Field(default=None, foreign_key="person.id")


# -- the annual review (年度考评): 评议 rounds, 书面点评, 一问 --------------------------------


class ReviewRound(SQLModel, table=True):
    """One year's 综合评议: the units rated, the scale (from policy at opening), open or
    closed; ratings are frozen once it closes."""

    __tablename__ = "review_round"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(unique=True)
    state: str = Field(default="open", max_length=16)  # open | closed
    scale: str = Field(max_length=16)  # grade (优秀…不称职) | score (1–100)
    unit_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    opened_at: datetime = Field(sa_type=UTCDateTime)
    opened_by: str = Field(max_length=128)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=128)
    # the annual result once made: unit code -> {score, grade} (read by the next year's)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class ReviewRater(SQLModel, table=True):
    """A rater of a round (区领导, 部门, 镇街, 党代表、人大代表、政协委员 …) with a weight."""

    __tablename__ = "review_rater"
    __table_args__ = (UniqueConstraint("round_id", "code", name="uq_review_rater_code"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="review_round.id", index=True)
    code: str = Field(max_length=32)
    name: str = Field(max_length=64)
    group: str = Field(max_length=32)  # 评议组别
    weight: float = 1.0
    person_id: int | None = Field(default=None, foreign_key="person.id")  # rates from chat
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReviewRating(SQLModel, table=True):
    """One rater's grade (or score) of one unit; never shown to the unit with the rater."""

    __tablename__ = "review_rating"
    __table_args__ = (UniqueConstraint("rater_id", "unit_id", name="uq_review_rating_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="review_round.id", index=True)
    rater_id: int = Field(foreign_key="review_rater.id")
    unit_id: int = Field(foreign_key="unit.id")
    grade: str | None = Field(default=None, max_length=8)  # 优秀 | 称职 | 基本称职 | 不称职
    score: float  # the points it counts for (a grade's points per policy, or the score)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    rated_at: datetime = Field(sa_type=UTCDateTime)


class ReviewRemark(SQLModel, table=True):
    """分管领导书面点评 of one unit in one round."""

    __tablename__ = "review_remark"
    __table_args__ = (UniqueConstraint("round_id", "unit_id", name="uq_review_remark_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="review_round.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    author: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    written_at: datetime = Field(sa_type=UTCDateTime)


class ReviewQuestion(SQLModel, table=True):
    """一问: a question put to a unit, tracked as a ticket of source kind 代表提问."""

    __tablename__ = "review_question"

    id: int | None = Field(default=None, primary_key=True)
    year: int = Field(index=True)
    unit_id: int = Field(foreign_key="unit.id")
    asked_by: str = Field(max_length=64)
    question: str = Field(sa_column=Column(Text, nullable=False))
    ticket_id: int = Field(foreign_key="ticket.id", unique=True)
    asked_at: datetime = Field(sa_type=UTCDateTime)
