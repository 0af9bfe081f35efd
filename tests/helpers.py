"""Small helpers shared by tests (no fakes of real services here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A moment in the office's zone (Asia/Shanghai), as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: local(2026, 11, 16, 9))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


def rules_for(data_dir=None):
    """DeadlineRules on the bundled calendar and policy."""
    from duban.settings import REPO_ROOT
    from ledger.calendar import load_calendar
    from ledger.deadlines import DeadlineRules
    from ledger.policy import load_policy

    data = data_dir or REPO_ROOT / "data"
    return DeadlineRules(
        calendar=load_calendar(data / "calendar.yaml"),
        policy=load_policy(data / "policy.yaml").deadlines,
        tz=SHANGHAI,
    )


def make_ticket(
    session,
    rules,
    *,
    received_at=None,
    kind="online",
    text="东湖路路灯不亮",
    external_id=None,
    time_limit_days=None,
    has_time_limit=False,
    now=None,
):
    """A stored message and its freshly opened (registered) ticket."""
    import hashlib

    from ledger.messages import add_message
    from ledger.models import SourceKind
    from ledger.tickets import Actor, open_ticket

    received_at = received_at or local(2026, 11, 16, 9)
    now = now or received_at
    message = add_message(
        session,
        source_kind=SourceKind(kind),
        channel="test",
        received_at=received_at,
        raw_text=text,
        text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        now=now,
        external_id=external_id,
        time_limit_days=time_limit_days,
        has_time_limit=has_time_limit,
    )
    return open_ticket(session, message, rules=rules, now=now, actor=Actor.system("test"))


def unavailable(reason: str) -> None:
    """A service a test needs is missing: fail under CI=true, skip on a developer's machine."""
    import os

    import pytest

    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)  # not under CI (CI=true fails just above)
