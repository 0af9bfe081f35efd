"""要情快讯: each working day's posts, grouped by check-in group and by unit (or by the
task they name), in the order the office chose; 第N期 once published, exactly once.

The chat text carries no photos (they stay with the office: the DOCX shows them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from checkins.chats import post_to_chats
from checkins.errors import BadInput, NotFound
from checkins.groups import chats_of
from checkins.record import FALSE
from ledger.models import CheckinDigest, CheckinPost, Person, Task, Unit
from ledger.outbox import add_notification
from ledger.policy import CheckinPolicy

logger = logging.getLogger(__name__)

DRAFT, PUBLISHED = "draft", "published"


@dataclass(frozen=True, slots=True)
class Item:
    post_id: int
    who: str
    unit: str
    window: str
    late: bool
    text: str
    photos: list[dict[str, Any]]
    task: str | None
    posted_at: datetime


@dataclass
class DigestView:
    day: date
    state: str
    issue: int | None
    title: str
    sections: list[tuple[str, list[Item]]] = field(default_factory=list)

    @property
    def post_ids(self) -> list[int]:
        return [item.post_id for _, items in self.sections for item in items]

    @property
    def heading(self) -> str:
        number = f"第{self.issue}期" if self.issue else "（草稿）"
        return f"{self.title} {number}　{self.day.year}年{self.day.month}月{self.day.day}日"

    def text(self) -> str:
        lines = [f"【{self.heading}】"]
        for heading, items in self.sections:
            lines.append(f"■ {heading}")
            for item in items:
                photos = f"（照片{len(item.photos)}张）" if item.photos else ""
                late = "（迟）" if item.late else ""
                lines.append(f"· {item.window}{late} {item.unit} {item.who}：{item.text}{photos}")
        if not self.sections:
            lines.append("今日暂无可编发的晒工作内容。")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "state": self.state,
            "issue": self.issue,
            "title": self.title,
            "sections": [
                {
                    "heading": heading,
                    "posts": [
                        {
                            "id": i.post_id,
                            "person": i.who,
                            "unit": i.unit,
                            "window": i.window,
                            "late": i.late,
                            "text": i.text,
                            "photos": len(i.photos),
                            "task": i.task,
                        }
                        for i in items
                    ],
                }
                for heading, items in self.sections
            ],
        }


def _digest(session: Session, day: date, *, lock: bool = False) -> CheckinDigest | None:
    query = select(CheckinDigest).where(CheckinDigest.day == day)
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def _eligible(session: Session, day: date) -> list[int]:
    """The day's posts the digest may carry: all but those found false."""
    return [
        p.id
        for p in session.exec(
            select(CheckinPost).where(CheckinPost.day == day).order_by(col(CheckinPost.id))
        ).all()
        if p.id is not None and p.check_state != FALSE
    ]


def compile_draft(session: Session, day: date, *, now: datetime) -> CheckinDigest:
    """The day's digest: made as a draft with every post; a draft gets the posts made
    since at its end (the office's order kept); a published one is left as it is."""
    row = _digest(session, day, lock=True)
    posts = _eligible(session, day)
    if row is None:
        row = CheckinDigest(day=day, state=DRAFT, post_ids=posts, compiled_at=now)
        session.add(row)
        session.flush()
        return row
    if row.state == DRAFT:
        known = set(row.post_ids)
        row.post_ids = [*row.post_ids, *[p for p in posts if p not in known]]
        row.compiled_at = now
        session.add(row)
    return row


def set_posts(session: Session, day: date, post_ids: list[int]) -> CheckinDigest:
    """The office's pick and order for a draft; every id must be a post of that day."""
    row = _digest(session, day, lock=True)
    if row is None:
        raise NotFound(f"{day.isoformat()} 还没有快讯草稿，请先生成", "no draft")
    if row.state != DRAFT:
        raise BadInput(
            f"{day.isoformat()} 的快讯已发布（第{row.issue}期），不能再修改", "published"
        )
    allowed = set(_eligible(session, day))
    for post_id in post_ids:
        if post_id not in allowed:
            raise BadInput(f"晒{post_id} 不是 {day.isoformat()} 可编发的内容", "not of that day")
    if len(set(post_ids)) != len(post_ids):
        raise BadInput("编号有重复", "duplicate ids")
    row.post_ids = list(post_ids)
    session.add(row)
    return row


def publish(
    session: Session,
    day: date,
    *,
    now: datetime,
    by: int | None,
    policy: CheckinPolicy,
    tz: ZoneInfo,
) -> CheckinDigest:
    """Number the day's draft 第N期 and post it to the digest groups, exactly once: the
    state moves draft -> published by a compare-and-set, the outbox row has a dedupe key."""
    row = compile_draft(session, day, now=now)
    if row.state == PUBLISHED:
        raise BadInput(
            f"{day.isoformat()} 的{policy.digest_title}已发布（第{row.issue}期），不再重复发布",
            "already published",
        )
    issue = (session.exec(select(func.max(CheckinDigest.issue))).one() or 0) + 1
    changed = session.execute(  # type: ignore[attr-defined]
        update(CheckinDigest)
        .where(col(CheckinDigest.id) == row.id)
        .where(col(CheckinDigest.state) == DRAFT)
        .values(state=PUBLISHED, issue=issue, published_at=now, published_by_id=by)
    ).rowcount
    if not changed:
        raise BadInput(f"{day.isoformat()} 的快讯已由他人发布", "published meanwhile")
    session.refresh(row)
    text = view(session, row, policy=policy, tz=tz).text()
    for key in policy.digest_groups:
        group = policy.groups[key]
        if group.chats:
            post_to_chats(
                session,
                dedupe_key=f"checkin-digest:{day.isoformat()}:{key}",
                kind="checkin-digest",
                text=text,
                chats=chats_of(group),
                now=now,
            )
        else:
            logger.warning("check-in group %s names no chat: the digest is not posted there", key)
    add_notification(
        session,
        dedupe_key=f"checkin-digest:{day.isoformat()}:office",
        kind="checkin-digest",
        audience="supervisors",
        text=text,
        now=now,
    )
    logger.info("digest of %s published as issue %s", day, issue)
    return row


def view(
    session: Session, row: CheckinDigest, *, policy: CheckinPolicy, tz: ZoneInfo
) -> DigestView:
    """The digest as people read it: by group, then unit or task, in the chosen order."""
    posts = {
        p.id: p
        for p in session.exec(
            select(CheckinPost).where(col(CheckinPost.id).in_(row.post_ids or [-1]))
        ).all()
    }
    people = {p.id: p.name for p in session.exec(select(Person)).all()}
    units = {u.id: u.short_name or u.name for u in session.exec(select(Unit)).all()}
    task_ids = {p.task_id for p in posts.values() if p.task_id is not None}
    tasks = {
        t.id: t for t in session.exec(select(Task).where(col(Task.id).in_(task_ids or {-1}))).all()
    }
    buckets: dict[str, list[Item]] = {}
    for post_id in row.post_ids:
        post = posts.get(post_id)
        if post is None:
            continue
        group = policy.groups.get(post.group_key)
        group_label = group.label if group is not None else post.group_key
        unit = units.get(post.unit_id, "—") if post.unit_id is not None else "—"
        task = tasks.get(post.task_id) if post.task_id is not None else None
        under = f"{task.number} {task.title}" if task is not None else unit
        item = Item(
            post_id=post_id,
            who=people.get(post.person_id, "—"),
            unit=unit,
            window=post.window,
            late=post.late,
            text=post.text,
            photos=post.photos,
            task=task.number if task else None,
            posted_at=post.posted_at,
        )
        buckets.setdefault(f"{group_label}·{under}", []).append(item)
    return DigestView(
        day=row.day,
        state=row.state,
        issue=row.issue,
        title=policy.digest_title,
        sections=list(buckets.items()),
    )
