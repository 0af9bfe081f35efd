"""Who is speaking, in which chat: bindings of chats, links of accounts, one-time invite codes.

A chat is bound to one role: a unit's chat (``unit``), the intake desk (``intake``) or the
supervisors (``supervisors``). A chat account (Telegram user id, Matrix MXID) is linked to
one person, either by an administrator or by the person sending ``/绑定 CODE`` with a code
from ``duban people invite``. One person may have accounts on several platforms.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from bots.errors import BadBinding
from ledger.directory import units_by_id
from ledger.models import (
    Audience,
    ChatAccount,
    ChatBinding,
    ChatInvite,
    Notification,
    NotificationStatus,
    Person,
    Role,
    Unit,
)

# A chat serves one audience of the outbox: its role is that audience.
ROLE_UNIT, ROLE_INTAKE, ROLE_SUPERVISORS = Audience.UNIT, Audience.INTAKE, Audience.SUPERVISORS
CHAT_ROLES = (ROLE_UNIT, ROLE_INTAKE, ROLE_SUPERVISORS)
ROLE_LABELS: dict[str, str] = {
    ROLE_UNIT: "单位群",
    ROLE_INTAKE: "录入台",
    ROLE_SUPERVISORS: "督查群",
}

# No 0/O, 1/I/L: a code is read aloud and typed on phones.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


@dataclass(frozen=True, slots=True)
class Speaker:
    """The sender and the chat of one message, as the ledger knows them."""

    binding: ChatBinding | None
    account: ChatAccount | None
    person: Person | None
    unit: Unit | None  # the chat's unit (unit chats only)

    @property
    def role(self) -> str | None:
        return self.binding.role if self.binding is not None else None


def resolve(session: Session, *, platform: str, chat_id: str, sender_id: str) -> Speaker:
    """Two reads: the chat's binding, and the account with its person (read fresh: who
    may do what follows from them). The chat's unit, shown by name, comes from
    ``units_by_id`` (cached in the bots' sessions)."""
    binding = binding_of(session, platform=platform, chat_id=chat_id)
    found = session.exec(
        select(ChatAccount, Person)
        .join(Person, col(Person.id) == col(ChatAccount.person_id))
        .where(ChatAccount.platform == platform)
        .where(ChatAccount.account_id == sender_id)
    ).first()
    account, person = found if found is not None else (None, None)
    if person is not None and not person.active:
        person = None
    unit = None
    if binding is not None and binding.unit_id is not None:
        unit = units_by_id(session).get(binding.unit_id)
    return Speaker(binding=binding, account=account, person=person, unit=unit)


def binding_of(session: Session, *, platform: str, chat_id: str) -> ChatBinding | None:
    return session.exec(
        select(ChatBinding)
        .where(ChatBinding.platform == platform)
        .where(ChatBinding.chat_id == chat_id)
    ).first()


def account_of(session: Session, *, platform: str, account_id: str) -> ChatAccount | None:
    return session.exec(
        select(ChatAccount)
        .where(ChatAccount.platform == platform)
        .where(ChatAccount.account_id == account_id)
    ).first()


# -- chats ----------------------------------------------------------------------------------------


def bind_chat(
    session: Session,
    *,
    platform: str,
    chat_id: str,
    role: Audience | str,
    unit: Unit | None,
    bound_by: str,
    now: datetime,
    title: str | None = None,
) -> tuple[ChatBinding, bool]:
    """Bind (or re-bind) a chat; returns the binding and whether it replaced another.

    Notifications that found no chat for this audience (status ``unbound``) are queued again,
    so a unit bound late still receives the cards written before.
    """
    platform, chat_id = _clean(platform, "platform"), _clean(chat_id, "chat")
    if role not in CHAT_ROLES:
        raise BadBinding(f"角色须为 {', '.join(CHAT_ROLES)} (unknown chat role {role!r})")
    role = Audience(role)
    if (role == ROLE_UNIT) != (unit is not None):
        raise BadBinding("单位群须指定单位；录入台、督查群不指定单位 (unit only for unit chats)")
    binding = binding_of(session, platform=platform, chat_id=chat_id)
    replaced = binding is not None
    if binding is None:
        binding = ChatBinding(
            platform=platform, chat_id=chat_id, role=role.value, bound_by=bound_by, bound_at=now
        )
    binding.role = role.value
    binding.unit_id = unit.id if unit is not None else None
    binding.title = title or binding.title
    binding.bound_by, binding.bound_at = bound_by, now
    session.add(binding)
    session.flush()
    requeue_unbound(session, audience=role, unit_id=binding.unit_id)
    return binding, replaced


def unbind_chat(session: Session, *, platform: str, chat_id: str) -> bool:
    binding = binding_of(session, platform=platform, chat_id=chat_id)
    if binding is None:
        return False
    session.delete(binding)
    session.flush()
    return True


def is_admin(session: Session, *, platform: str, account_id: str) -> bool:
    """The account is linked to an active person with the admin role."""
    account = account_of(session, platform=platform, account_id=account_id)
    person = session.get(Person, account.person_id) if account is not None else None
    return person is not None and person.active and person.has_role(Role.ADMIN)


def bindings(session: Session) -> list[ChatBinding]:
    return list(
        session.exec(
            select(ChatBinding).order_by(ChatBinding.platform, ChatBinding.role, ChatBinding.id)
        )
    )


def requeue_unbound(
    session: Session,
    *,
    audience: Audience,
    unit_id: int | None = None,
    person_id: int | None = None,
) -> int:
    """Put ``unbound`` notifications of this audience back in the queue."""
    query = (
        update(Notification)
        .where(col(Notification.status) == NotificationStatus.UNBOUND)
        .where(col(Notification.audience) == audience)
    )
    if unit_id is not None:
        query = query.where(col(Notification.unit_id) == unit_id)
    if person_id is not None:
        query = query.where(col(Notification.person_id) == person_id)
    return int(session.execute(query.values(status=NotificationStatus.PENDING)).rowcount or 0)


# -- accounts -------------------------------------------------------------------------------------


def link_account(
    session: Session,
    *,
    platform: str,
    account_id: str,
    person: Person,
    via: str,
    now: datetime,
    private_chat_id: str | None = None,
) -> ChatAccount:
    """Link a chat account to ``person``; an account already linked to someone else is refused."""
    platform, account_id = _clean(platform, "platform"), _clean(account_id, "account")
    account = account_of(session, platform=platform, account_id=account_id)
    if account is not None and account.person_id != person.id:
        other = session.get(Person, account.person_id)
        name = other.name if other is not None else account.person_id
        raise BadBinding(f"该账号已绑定到「{name}」，如需更换请联系管理员 (account already linked)")
    if account is None:
        account = ChatAccount(
            platform=platform,
            account_id=account_id,
            person_id=person.id,
            linked_via=via,
            linked_at=now,
        )
    if private_chat_id:
        account.private_chat_id = private_chat_id
    session.add(account)
    session.flush()
    if account.private_chat_id:
        requeue_unbound(session, audience=Audience.PERSON, person_id=person.id)
    return account


def unlink_account(session: Session, *, platform: str, account_id: str) -> bool:
    """Forget a chat account's link (a lost phone, a person who left)."""
    account = account_of(session, platform=platform, account_id=account_id)
    if account is None:
        return False
    session.delete(account)
    session.flush()
    return True


def note_private_chat(session: Session, account: ChatAccount, chat_id: str) -> None:
    """Remember the 1:1 chat where the bot can reach this account (for personal notices)."""
    if account.private_chat_id != chat_id:
        account.private_chat_id = chat_id
        session.add(account)
        session.flush()
        requeue_unbound(session, audience=Audience.PERSON, person_id=account.person_id)


def accounts_of(session: Session, person: Person) -> list[ChatAccount]:
    return list(session.exec(select(ChatAccount).where(ChatAccount.person_id == person.id)))


# -- invites --------------------------------------------------------------------------------------


def create_invite(
    session: Session, person: Person, *, created_by: str, now: datetime, hours: int = 72
) -> ChatInvite:
    if not 1 <= hours <= 24 * 30:
        raise BadBinding(f"有效期须在 1 到 720 小时之间 (hours={hours})")
    if not person.active:
        raise BadBinding(f"{person.name} 的账号已停用 (person is inactive)")
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if session.exec(select(ChatInvite.id).where(ChatInvite.code == code)).first() is None:
            break
    invite = ChatInvite(
        code=code,
        person_id=person.id,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(invite)
    session.flush()
    return invite


def normalise_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def redeem_invite(
    session: Session,
    code: str,
    *,
    platform: str,
    account_id: str,
    now: datetime,
    private_chat_id: str | None = None,
) -> Person:
    """Link the sending account with the code's person; the code is spent."""
    wanted = normalise_code(code)
    invite = (
        session.exec(select(ChatInvite).where(ChatInvite.code == wanted)).first()
        if wanted
        else None
    )
    if invite is None or invite.used_at is not None or invite.expires_at < now:
        raise BadBinding("绑定码无效或已过期，请向管理员重新索取 (invalid or expired code)")
    person = session.get(Person, invite.person_id)
    if person is None or not person.active:
        raise BadBinding("绑定码对应的人员已停用 (person is inactive)")
    link_account(
        session,
        platform=platform,
        account_id=account_id,
        person=person,
        via="invite",
        now=now,
        private_chat_id=private_chat_id,
    )
    invite.used_at = now
    invite.used_by = f"{platform}:{account_id}"
    session.add(invite)
    session.flush()
    return person


def _clean(value: str, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise BadBinding(f"{field} 不能为空 ({field} is required)")
    return text
