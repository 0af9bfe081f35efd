"""Wiring: builds the engine, calendar, policy and queue from settings, on first use."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from duban.settings import Settings, get_settings
from intake.places import load_gazetteer
from ledger.calendar import WorkCalendar, load_calendar
from ledger.db import make_engine, session_scope
from ledger.deadlines import DeadlineRules
from ledger.policy import Policy, load_policy
from ledger.types import utcnow
from routing.context import RoutingContext
from routing.rules import RuleSet, load_rules

logger = logging.getLogger(__name__)


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
        self.check_schema()
        with session_scope(self.engine) as session:
            yield session

    def check_schema(self) -> None:
        """Refuse, once and clearly, a database with no ledger or an older schema."""
        if self.__dict__.get("_schema_ok"):
            return
        from ledger import schema
        from ledger.errors import SchemaNotReady

        current = schema.current_revision(self.engine)
        if current is None:
            raise SchemaNotReady(
                f"台账尚未建立（{self.engine.url.render_as_string(hide_password=True)}）："
                "请先运行 duban init (no ledger in this database yet)"
            )
        if current != schema.head_revision():
            raise SchemaNotReady(
                f"台账结构版本 {current} 较旧：请先备份，再运行 duban db upgrade "
                f"(schema {current} is older than {schema.head_revision()})"
            )
        self.__dict__["_schema_ok"] = True

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    @cached_property
    def routing(self) -> RoutingContext:
        """The routing context on this runtime's ledger, rules, clock, model and queue."""
        self.check_schema()
        return RoutingContext(
            engine=self.engine,
            policy=self.policy,
            rules=self.rules,
            clock=self.now,
            predictor=self.predictor,
            route_rules=self.route_rules,
            queue=self.queue,
            gazetteer=load_gazetteer(self.settings.data_dir / "units.yaml"),
            nudge=self.nudge_bots,
            home=self.settings.home,
        )

    # -- the model, the rules file, the queue: built on first use, cached ---------------------

    def predictor(self) -> Any | None:
        """The promoted classifier, or None when none is trained yet (all goes to triage).

        Refused (``ModelRefused``, logged) when its file is not the one the ledger recorded
        at promotion. A model trained on fewer rows than the policy asks only suggests."""
        if "_predictor" not in self.__dict__:
            self.check_schema()
            with session_scope(self.engine) as session:
                predictor = load_promoted_predictor(
                    self.settings.models_path, session, self.policy.routing
                )
            self.__dict__["_predictor"] = predictor
        return self.__dict__["_predictor"]

    def forget_predictor(self) -> None:
        """Load the promoted model again on next use (after a promotion)."""
        self.__dict__.pop("_predictor", None)

    def route_rules(self) -> RuleSet | None:
        if "_route_rules" not in self.__dict__:
            from ledger.directory import list_units

            with self.session() as session:
                units = list_units(session)
            self.__dict__["_route_rules"] = load_rules(
                self.settings.data_dir / "routing_rules.yaml", units
            )
        return self.__dict__["_route_rules"]

    def nudge_bots(self) -> None:
        """Tell bot processes new outbox rows are committed (best effort: they also poll)."""
        queue = self.queue()
        if queue is None:
            return
        from redis.exceptions import RedisError

        from routing.notify import OUTBOX_CHANNEL

        try:
            queue.connection.publish(OUTBOX_CHANNEL, "1")
        except RedisError as exc:
            logger.debug("outbox nudge not published: %s", exc)

    def queue(self) -> Any | None:
        """The rq queue when DUBAN_REDIS_URL is set; None means jobs run inline."""
        if not self.settings.redis_url:
            return None
        if "_queue" not in self.__dict__:
            from redis import Redis
            from rq import Queue

            connection = Redis.from_url(
                self.settings.redis_url,
                socket_connect_timeout=5,
                socket_timeout=30,
                health_check_interval=30,
            )
            self.__dict__["_queue"] = Queue(self.settings.queue_name, connection=connection)
        return self.__dict__["_queue"]


def load_promoted_predictor(models_path: Path, session: Session, policy: Any) -> Any | None:
    """The registry's promoted model, verified against the sha256 the ledger recorded when
    it was promoted, or None (logged) when there is none yet. ``trusted`` is false while
    its training rows are below ``policy``'s minimums: it then suggests, a person decides."""
    from classifier.errors import NoPromotedModel
    from classifier.registry import Registry
    from routing.training import label_counts, trusted, verified_predictor

    registry = Registry(models_path)
    try:
        version = registry.current()
    except NoPromotedModel:
        version = None
    if version is None:
        logger.warning("no promoted classifier in %s: messages go to the triage queue", models_path)
        return None
    predictor = verified_predictor(session, registry, version)
    predictor.trusted = trusted(label_counts(predictor), policy)
    if not predictor.trusted:
        logger.warning(
            "classifier %s is trained on fewer labelled rows than the policy asks: it only"
            " suggests, every message goes to triage",
            version,
        )
    return predictor
