"""Wiring: builds the engine, calendar, policy and queue from settings, on first use."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session

from duban.settings import Settings, get_settings
from intake.places import load_gazetteer
from ledger import yamlfile
from ledger.calendar import WorkCalendar, load_calendar
from ledger.db import make_engine, session_scope
from ledger.deadlines import DeadlineRules
from ledger.directory import check_district
from ledger.errors import BadInput
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
            gazetteer=self._gazetteer(),
            nudge=self.nudge_bots,
            home=self.settings.home,
        )

    def _gazetteer(self) -> Any:
        """The district's place names; a units.yaml edited since ``duban init`` into another
        encoding or a wrong shape is refused in Chinese (was a UnicodeDecodeError)."""
        path = self.settings.data_dir / "units.yaml"
        if path.exists():
            document = yamlfile.parse(
                yamlfile.read_text(path, error=BadInput), path, error=BadInput
            )
            if isinstance(document, dict):
                check_district(document.get("district"), path)
        return load_gazetteer(path)

    # -- the model, the rules file, the queue: built on first use, cached ---------------------

    def predictor(self) -> Any | None:
        """The promoted classifier, or None when none is trained yet (all goes to triage).

        The ledger's promoted version, checked per call (one read by primary key) and loaded
        again when another process or machine promoted or rolled back one: from the model
        registry when this machine has the version, else from this DUBAN_HOME's cache,
        fetched from the ledger. Refused (``ModelRefused``, logged) when its file is not the
        one the ledger recorded at promotion. A model trained on fewer rows than the policy
        asks only suggests."""
        return self.promoted_model()()

    def promoted_model(self) -> Any:
        """The process's ``routing.training.PromotedModel`` (built on first use)."""
        if "_promoted_model" not in self.__dict__:
            from classifier.registry import Registry
            from routing.training import PromotedModel

            self.check_schema()
            self.__dict__["_promoted_model"] = PromotedModel(
                self.engine,
                registry=Registry(self.settings.models_path),
                cache=self.settings.home / "cache" / "models",
                policy=self.policy.routing,
                clock=self.now,
            )
        return self.__dict__["_promoted_model"]

    def forget_predictor(self) -> None:
        """Load the promoted model again on next use (after a promotion)."""
        if "_promoted_model" in self.__dict__:
            self.__dict__["_promoted_model"].forget()

    def route_rules(self) -> RuleSet | None:
        if "_route_rules" not in self.__dict__:
            from ledger.directory import list_units

            with self.session() as session:
                units = list_units(session)
            path = self.settings.data_dir / "routing_rules.yaml"
            if path.exists():  # another encoding was a UnicodeDecodeError from routing.rules
                yamlfile.read_text(path, error=BadInput)
            self.__dict__["_route_rules"] = load_rules(path, units)
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
