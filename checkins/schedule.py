"""The scheduler's part: at a window's opening a short prompt in each group's chats; near
its close a private reminder to those who have not posted; after the day's last window a
draft 要情快讯. Outbox rows with dedupe keys, so every tick may run it again; nothing on
days off."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from checkins.chats import post_to_chats
from checkins.digest import compile_draft
from checkins.groups import chats_of, members, unit_ids
from checkins.record import OPEN, status
from checkins.windows import Window, windows_on
from ledger.deadlines import DeadlineRules
from ledger.models import Audience
from ledger.outbox import add_notification
from ledger.policy import CheckinGroup, CheckinPolicy

logger = logging.getLogger(__name__)

PROMPTS = {
    "早晒": "请晒今日工作计划",
    "午晒": "请晒上午工作进展",
    "晚晒": "请晒今日工作成效",
}


@dataclass
class TickResult:
    prompts: int = 0
    reminders: int = 0
    digest: str | None = None  # the day whose draft 要情快讯 was compiled
    keys: list[str] = field(default_factory=list)


def post_to_group(
    session: Session,
    key: str,
    group: CheckinGroup,
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    now: datetime,
) -> int:
    """To the group's chats, or (a group naming no chat) to its units' chats."""
    if group.chats:
        found = post_to_chats(
            session, dedupe_key=dedupe_key, kind=kind, text=text, chats=chats_of(group), now=now
        )
        return int(found is not None)
    written = 0
    for unit in unit_ids(session, key, group):
        row = add_notification(
            session,
            dedupe_key=f"{dedupe_key}:u{unit}",
            kind=kind,
            audience=Audience.UNIT,
            unit_id=unit,
            text=text,
            now=now,
        )
        written += row is not None
    return written


def prompt_text(group: CheckinGroup, window: Window, rules: DeadlineRules) -> str:
    closes = window.closes.astimezone(rules.tz).strftime("%H:%M")
    ask = PROMPTS.get(window.name, "请晒工作")
    return (
        f"【{window.name}】{group.label}：{ask}，{closes}前发送：/晒 内容（可附现场照片，"
        "涉及督办事项或督办件请写编号）"
    )


def tick(
    session: Session, *, now: datetime, policy: CheckinPolicy, rules: DeadlineRules
) -> TickResult:
    result = TickResult()
    day = rules.local_date(now)
    windows = windows_on(day, policy, rules)
    if not windows or not policy.groups:
        return result
    remind = timedelta(minutes=policy.remind_before_minutes)
    for window in windows:
        if not window.opens <= now <= window.closes:
            continue
        for key, group in policy.groups.items():
            dedupe = f"checkin-prompt:{day.isoformat()}:{window.name}:{key}"
            if post_to_group(
                session,
                key,
                group,
                dedupe_key=dedupe,
                kind="checkin-prompt",
                text=prompt_text(group, window, rules),
                now=now,
            ):
                result.prompts += 1
                result.keys.append(dedupe)
        if now >= window.closes - remind:
            result.reminders += _remind(session, window, now=now, policy=policy, rules=rules)
    if now.astimezone(rules.tz).hour >= policy.digest_hour and now > windows[-1].closes:
        compile_draft(session, day, now=now)
        result.digest = day.isoformat()
    return result


def _remind(
    session: Session,
    window: Window,
    *,
    now: datetime,
    policy: CheckinPolicy,
    rules: DeadlineRules,
) -> int:
    closes = window.closes.astimezone(rules.tz).strftime("%H:%M")
    missing = {
        row.person
        for row in status(session, window.day, policy=policy, rules=rules, now=now)
        if row.window == window.name and row.state == OPEN
    }
    written = 0
    for key, group in policy.groups.items():
        for member in members(session, key, group):
            if member.code not in missing:
                continue
            missing.discard(member.code)
            row = add_notification(
                session,
                dedupe_key=f"checkin-remind:{window.day.isoformat()}:{window.name}:{member.person_id}",
                kind="checkin-remind",
                audience=Audience.PERSON,
                person_id=member.person_id,
                text=f"【{window.name}提醒】{member.name}，您今天的{window.name}尚未发送，"
                f"请于{closes}前在「{group.label}」群发送：/晒 内容",
                now=now,
            )
            written += row is not None
    return written
