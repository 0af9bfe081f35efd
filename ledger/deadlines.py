"""Deadlines in working days: the N-th working day after receipt, end of that day, local."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from ledger.calendar import WorkCalendar
from ledger.models import Message, SourceKind
from ledger.policy import DeadlinePolicy


@dataclass(frozen=True, slots=True)
class Deadline:
    limit_days: int
    due_date: date
    due_at: datetime  # end of the due day in the office's zone, as UTC
    provisional: bool


@dataclass(frozen=True, slots=True)
class DeadlineRules:
    """The calendar, the office's limits and its time zone, together."""

    calendar: WorkCalendar
    policy: DeadlinePolicy
    tz: ZoneInfo

    def local_date(self, moment: datetime) -> date:
        if moment.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware moment")
        return moment.astimezone(self.tz).date()

    def end_of_day(self, day: date) -> datetime:
        """The last moment of ``day`` in the office's zone, as UTC."""
        return datetime.combine(day, time(23, 59, 59), tzinfo=self.tz).astimezone(UTC)

    def limit_for(self, message: Message) -> int:
        return self.policy.limit_for(
            SourceKind(message.source_kind),
            explicit_days=message.time_limit_days,
            has_limit=message.has_time_limit,
        )

    def for_message(self, message: Message) -> Deadline:
        return self.count(message.received_at, self.limit_for(message))

    def count(self, received_at: datetime, limit_days: int) -> Deadline:
        """Deadline for something received at ``received_at`` with ``limit_days``."""
        due = self.calendar.add_workdays(self.local_date(received_at), limit_days)
        return Deadline(limit_days, due.due, self.end_of_day(due.due), due.provisional)

    def extend(self, due_date: date, days: int) -> Deadline:
        """The deadline ``days`` working days after the current due day."""
        due = self.calendar.add_workdays(due_date, days)
        return Deadline(days, due.due, self.end_of_day(due.due), due.provisional)

    def workdays_left(self, due_date: date, now: datetime) -> int:
        """Working days from today to the due day (0 on the due day, negative when late)."""
        today = self.local_date(now)
        return self.calendar.workdays_between(today, due_date)
