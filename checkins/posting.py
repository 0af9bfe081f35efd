"""A 晒 as it goes into the ledger: which group and window it counts for, the task or
ticket it names (the post then shows in that file), its stored photos."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from checkins.errors import BadInput, PermissionDenied
from checkins.groups import groups_of
from checkins.photos import StoredPhoto
from checkins.windows import slot_for
from ledger.deadlines import DeadlineRules
from ledger.models import CheckinPost, Event, Person, Task, TaskEvent, Ticket
from ledger.policy import CheckinPolicy

logger = logging.getLogger(__name__)

TASK_IN_TEXT = re.compile(r"\bRW-(\d{4})-(\d{1,6})\b", re.IGNORECASE)
TICKET_IN_TEXT = re.compile(r"\bDB-(\d{4})-(\d{1,6})\b", re.IGNORECASE)
NUMBER_CHARS = str.maketrans("ＲＷＤＢｒｗｄｂ０１２３４５６７８９－—–‐", "RWDBrwdb0123456789----")


@dataclass(frozen=True, slots=True)
class Posted:
    post: CheckinPost
    created: bool  # False: this chat message was recorded already
    task_number: str | None = None
    ticket_number: str | None = None


def named_numbers(text: str) -> tuple[str | None, str | None]:
    """The first task number (RW-2026-0001) and ticket number (DB-2026-000123) in ``text``."""
    plain = text.translate(NUMBER_CHARS)
    task = TASK_IN_TEXT.search(plain)
    ticket = TICKET_IN_TEXT.search(plain)
    return (
        f"RW-{task.group(1)}-{int(task.group(2)):04d}" if task else None,
        f"DB-{ticket.group(1)}-{int(ticket.group(2)):06d}" if ticket else None,
    )


def record(
    session: Session,
    *,
    person: Person,
    platform: str,
    chat_id: str,
    message_id: str,
    text: str,
    photos: list[StoredPhoto],
    location: dict[str, Any] | None,
    now: datetime,
    policy: CheckinPolicy,
    rules: DeadlineRules,
) -> Posted:
    """Write one post (once per chat message) and its note in the named task's or
    ticket's file; refuses people in no check-in group and numbers that do not exist."""
    existing = session.exec(
        select(CheckinPost)
        .where(CheckinPost.platform == platform)
        .where(CheckinPost.chat_id == chat_id)
        .where(CheckinPost.message_id == message_id)
    ).first()
    if existing is not None:
        return Posted(post=existing, created=False)
    body = text.strip()
    if not body and not photos:
        raise BadInput("请写明晒的内容，例如：/晒 上午到东湖路工地督导安全生产", "empty post")
    keys = groups_of(session, person, policy)
    if not keys:
        raise PermissionDenied(
            "您不在任何晒工作群的名单中，无须晒；如有疑问请联系督查室", "person in no group"
        )
    here = f"{platform}:{chat_id}"
    key = next((k for k in keys if here in policy.groups[k].chats), keys[0])
    task_number, ticket_number = named_numbers(body)
    task = _one(session, Task, task_number) if task_number else None
    ticket = _one(session, Ticket, ticket_number) if ticket_number else None
    slot = slot_for(now, policy, rules)
    post = CheckinPost(
        platform=platform,
        chat_id=chat_id,
        message_id=message_id,
        person_id=_id(person),
        unit_id=person.unit_id,
        group_key=key,
        day=slot.window.day,
        window=slot.window.name,
        late=slot.late,
        text=body,
        task_id=task.id if task else None,
        ticket_id=ticket.id if ticket else None,
        photos=[p.as_json() for p in photos],
        location=location,
        posted_at=now,
    )
    session.add(post)
    session.flush()
    note = f"【{slot.window.name}】{body}" + (f"（附照片{len(photos)}张）" if photos else "")
    data = {"checkin_post": post.id, "window": slot.window.name, "late": slot.late}
    actor = f"{person.name}({person.code})"[:128]
    if task is not None:
        session.add(
            TaskEvent(
                task_id=task.id,
                action="comment",
                from_state=task.state,
                to_state=task.state,
                actor_id=person.id,
                actor=actor,
                unit_id=person.unit_id,
                note=note,
                data=data,
                at=now,
            )
        )
    if ticket is not None:
        session.add(
            Event(
                ticket_id=ticket.id,
                action="comment",
                from_state=ticket.state,
                to_state=ticket.state,
                actor_id=person.id,
                actor=actor,
                unit_id=person.unit_id,
                note=note,
                data=data,
                at=now,
            )
        )
    logger.info(
        "check-in %s by person %s: %s %s%s",
        post.id,
        person.id,
        post.day,
        post.window,
        " (late)" if post.late else "",
    )
    return Posted(post=post, created=True, task_number=task_number, ticket_number=ticket_number)


def _one(session: Session, model: type[Task] | type[Ticket], number: str) -> Any:
    found = session.exec(select(model).where(model.number == number)).first()
    if found is None:
        what = "督办事项" if model is Task else "督办件"
        raise BadInput(f"没有找到{what} {number}，请核对编号后重发", f"no {number}")
    return found


def _id(person: Person) -> int:
    assert person.id is not None
    return person.id
