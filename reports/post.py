"""Posting the 督查周报 to chat through the outbox (``Notification`` rows).

The bots deliver outbox rows; the scheduler (Monday morning) and ``/报表`` call
:func:`weekly_notification`. It checks the dedupe key first, so calling it again for a
week already posted costs one query and writes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from ledger.deadlines import DeadlineRules
from ledger.models import Audience, Notification
from ledger.outbox import add_notification
from ledger.policy import OfficePolicy, RankingPolicy, TaskPolicy
from reports.periods import Period, last_complete_week
from reports.render import WrittenReport, chat_text, write_all
from reports.weekly import build_weekly

logger = logging.getLogger(__name__)

KIND = "report"
AUDIENCE = Audience.SUPERVISORS


@dataclass(frozen=True, slots=True)
class ChatReport:
    """What a chat needs: the text (under 4,000 characters) and the images to attach."""

    period: str
    text: str
    charts: list[Path]
    files: dict[str, Path]


def weekly_dedupe_key(week: Period, request_key: str | None = None) -> str:
    key = f"report:weekly:{week.key}"
    return f"{key}:{request_key}" if request_key else key


def weekly_chat(
    session: Session,
    *,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    out_dir: Path,
    week: Period | None = None,
    office: OfficePolicy | None = None,
    task_policy: TaskPolicy | None = None,
) -> ChatReport:
    """Build the week's report, write its files (md, html, json, xlsx, PNG charts) under
    ``out_dir/weekly-<week>/`` and return the chat text and chart paths. ``office`` (from
    policy.yaml) names the office on the masthead."""
    report = build_weekly(
        session, now=now, rules=rules, policy=policy, week=week, office=office,
        task_policy=task_policy,
    )  # fmt: skip
    stem = f"weekly-{report.period.key}"
    written: WrittenReport = write_all(report, Path(out_dir) / stem, stem)
    return ChatReport(
        period=report.period.key, text=chat_text(report), charts=written.charts, files=written.files
    )


def weekly_notification(
    session: Session,
    *,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    out_dir: Path,
    week: Period | None = None,
    request_key: str | None = None,
    person_id: int | None = None,
    office: OfficePolicy | None = None,
    task_policy: TaskPolicy | None = None,
) -> Notification:
    """The outbox row posting ``week``'s report (default: the last complete ISO week).

    Written once per dedupe key — ``report:weekly:2026-W47`` for the scheduled post to the
    supervisors; with ``request_key`` (e.g. the chat message id of a ``/报表``) a row of its
    own, addressed to ``person_id`` when given. Returns the existing row when there is one.
    The caller commits.
    """
    week = week or last_complete_week(now, rules.tz)
    key = weekly_dedupe_key(week, request_key)
    existing = _by_key(session, key)
    if existing is not None:
        return existing
    chat = weekly_chat(
        session, now=now, rules=rules, policy=policy, out_dir=out_dir, week=week, office=office,
        task_policy=task_policy,
    )  # fmt: skip
    row = add_notification(
        session,
        dedupe_key=key,
        kind=KIND,
        audience=Audience.PERSON if person_id else AUDIENCE,
        person_id=person_id,
        text=chat.text,
        now=now,
        payload={
            "report": "weekly",
            "period": week.key,
            "charts": [str(path) for path in chat.charts],
            "files": {fmt: str(path) for fmt, path in chat.files.items()},
        },
    )
    if row is None:  # another process wrote the same key first
        logger.info("weekly report %s already in the outbox", key)
        existing = _by_key(session, key)
        assert existing is not None
        return existing
    logger.info("weekly report %s written to the outbox", key)
    return row


def _by_key(session: Session, key: str) -> Notification | None:
    return session.exec(select(Notification).where(Notification.dedupe_key == key)).first()
