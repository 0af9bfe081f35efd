"""Wiring: builds the engine, calendar, policy and queue from settings, on first use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from duban.settings import Settings, get_settings
from ledger.calendar import WorkCalendar, load_calendar
from ledger.db import make_engine, session_scope
from ledger.deadlines import DeadlineRules
from ledger.policy import Policy, load_policy
from ledger.types import utcnow
from routing.context import RoutingContext


@dataclass
class Runtime:
    """Everything a command, a bot or a worker needs, built lazily from ``Settings``."""

    settings: Settings = field(default_factory=get_settings)
    clock: Callable[[], datetime] = utcnow

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.db_url)

    @cached_property
    def policy(self) -> Policy:
        return load_policy(self.settings.data_dir / "policy.yaml")

    @cached_property
    def calendar(self) -> WorkCalendar:
        return load_calendar(self.settings.calendar_file)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    @cached_property
    def rules(self) -> DeadlineRules:
        return DeadlineRules(calendar=self.calendar, policy=self.policy.deadlines, tz=self.tz)

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    @cached_property
    def routing(self) -> RoutingContext:
        """The routing context on this runtime's ledger, rules and clock."""
        return RoutingContext(
            engine=self.engine,
            policy=self.policy,
            rules=self.rules,
            clock=self.now,
        )
