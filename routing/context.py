"""What routing needs, passed in: the ledger, the office's rules, a clock, a model, a queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from intake.places import EMPTY, Gazetteer
from ledger.db import session_scope
from ledger.deadlines import DeadlineRules
from ledger.policy import Policy

if TYPE_CHECKING:
    from routing.rules import RuleSet


@dataclass
class RoutingContext:
    """Built by the application shell (``duban.runtime``) and handed to routing functions.

    ``predictor`` returns the promoted classifier (or ``None`` when no model is trained yet:
    everything then waits in triage). ``queue`` returns an rq ``Queue`` when jobs go
    through Redis, or ``None`` when they run inline.
    """

    engine: Engine
    policy: Policy
    rules: DeadlineRules
    clock: Callable[[], datetime]
    predictor: Callable[[], Any | None] = lambda: None
    route_rules: Callable[[], RuleSet | None] = lambda: None
    queue: Callable[[], Any | None] = lambda: None
    gazetteer: Gazetteer = EMPTY  # the district's place names, for duplicate detection
    # Called after a transaction that wrote outbox rows has committed: tells bot processes
    # to deliver now rather than at their next poll (Redis pub/sub when there is a Redis).
    nudge: Callable[[], None] = lambda: None
    # DUBAN_HOME: where files the ledger names are kept (check-in photos)
    home: Path | None = None

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session
