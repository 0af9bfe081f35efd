"""The scheduler tick: inline without Redis, enqueued (once per interval) with it."""

from __future__ import annotations

import pytest
from rq import Queue
from sqlmodel import select

from duban.cli.jobs import tick
from duban.runtime import Runtime
from ledger.models import Notification
from tests.helpers import Clock, local, make_ticket


def test_inline_tick_reminds_and_posts_the_weekly_report_once(runtime: Runtime) -> None:
    runtime.clock = Clock(local(2026, 11, 23, 9))  # a Monday morning
    with runtime.session() as session:
        make_ticket(
            session,
            runtime.rules,
            received_at=local(2026, 11, 16, 9),
            kind="instruction",
            time_limit_days=2,
        )
    first = tick(runtime)
    assert first["reminders"]["triage_overdue"] == 1
    assert first["weekly_report"] == "report:weekly:2026-W47"
    second = tick(runtime)
    assert second["reminders"]["triage_overdue"] == 0
    with runtime.session() as session:
        kinds = [n.kind for n in session.exec(select(Notification))]
    assert kinds.count("report") == 1


def test_no_weekly_report_outside_monday_morning(runtime: Runtime) -> None:
    runtime.clock = Clock(local(2026, 11, 24, 9))  # Tuesday
    assert tick(runtime)["weekly_report"] is None


@pytest.mark.redis
def test_with_redis_the_tick_enqueues_and_one_scheduler_wins(
    runtime: Runtime, redis_url: str
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"redis_url": redis_url})
    runtime.clock = Clock(local(2026, 11, 24, 9))
    first = tick(runtime, interval=60)
    assert first["enqueued"] == ["sweep", "send_reminders"]
    assert tick(runtime, interval=60) == {"skipped": "another scheduler ticked"}
    queue = Queue(runtime.settings.queue_name, connection=runtime.queue().connection)
    assert sorted(job.func_name for job in queue.jobs) == [
        "routing.jobs.send_reminders",
        "routing.jobs.sweep",
    ]


def test_with_redis_down_the_scheduler_reminds_by_itself(runtime: Runtime) -> None:
    """Reminders are enqueued for workers; while Redis is away nobody would send them."""
    runtime.settings = runtime.settings.model_copy(
        update={"redis_url": "redis://127.0.0.1:1/0"}
    )  # nothing listens there
    runtime.clock = Clock(local(2026, 11, 24, 9))
    with runtime.session() as session:
        make_ticket(
            session,
            runtime.rules,
            received_at=local(2026, 11, 16, 9),
            kind="instruction",
            time_limit_days=2,
        )
    result = tick(runtime, interval=60)
    assert "redis_unavailable" in result and "enqueued" not in result
    assert result["reminders"]["triage_overdue"] == 1 and result["swept"] == 0
