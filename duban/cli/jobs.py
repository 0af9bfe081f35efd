"""``duban worker``, ``duban scheduler`` and one-shot ``duban sweep`` / ``duban remind``."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Annotated

import typer

from duban.cli.common import JsonOpt, emit_json, fail, runtime, say
from duban.runtime import Runtime

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("worker", help="后台任务进程 (an rq worker; run several, on several machines)")(
        worker
    )
    app.command("scheduler", help="定时任务：补发、催办、周报 (sweeper, reminders, weekly report)")(
        scheduler
    )
    app.command("sweep", help="补发未分办的留言 (route messages left while the queue was down)")(
        sweep
    )
    app.command("remind", help="立即运行一次催办 (run the reminders once)")(remind)


def worker(
    ctx: typer.Context,
    burst: Annotated[bool, typer.Option(help="队列空即退出 (exit when idle)")] = False,
    name: Annotated[str | None, typer.Option(help="进程名 (worker name)")] = None,
) -> None:
    from routing import jobs
    from routing.worker import serve

    rt = runtime(ctx)
    queue = rt.queue()
    if queue is None:
        fail("未设置 DUBAN_REDIS_URL：没有队列时任务直接在本进程运行，不需要 worker")
    jobs.configure(lambda: rt.routing)
    logging.getLogger("rq.worker").setLevel(logging.INFO)
    serve(queue, name=name, burst=burst)


def scheduler(
    ctx: typer.Context,
    interval: Annotated[int, typer.Option(help="检查间隔秒数 (seconds between ticks)")] = 60,
    once: Annotated[bool, typer.Option(help="只运行一次 (one tick, then exit)")] = False,
) -> None:
    rt = runtime(ctx)
    if once:
        tick(rt, interval=interval)
        return
    while True:
        try:
            tick(rt, interval=interval)
        except Exception:  # the database away for a moment: the next tick tries again
            logger.exception("scheduler tick failed; the next one in %d s", interval)
        time.sleep(interval)


def tick(rt: Runtime, *, interval: int = 60) -> dict[str, object]:
    """One scheduler tick. With Redis, one tick per interval across all schedulers; with
    Redis unreachable, this scheduler sweeps and reminds itself (both are idempotent)."""
    from redis.exceptions import RedisError

    queue = rt.queue()
    result: dict[str, object] = {}
    if queue is not None:
        try:
            if not queue.connection.set(
                "duban:scheduler:tick", "1", nx=True, ex=max(interval - 1, 1)
            ):
                return {"skipped": "another scheduler ticked"}
            queue.enqueue("routing.jobs.sweep", job_timeout=600, result_ttl=600)
            queue.enqueue("routing.jobs.send_reminders", job_timeout=600, result_ttl=600)
            result["enqueued"] = ["sweep", "send_reminders"]
        except RedisError as exc:
            logger.warning("Redis unavailable (%s): reminders run in the scheduler itself", exc)
            result["redis_unavailable"] = str(exc)
            queue = None
    if queue is None:
        from routing.reminders import run_reminders
        from routing.sweeper import sweep as run_sweep

        result["swept"] = run_sweep(rt.routing, None)
        result["reminders"] = asdict(run_reminders(rt.routing))
    result["weekly_report"] = post_weekly_report(rt)
    result["checkins"] = checkins_tick(rt)
    return result


def checkins_tick(rt: Runtime) -> dict[str, object]:
    """一日三晒: window prompts, reminders to those missing, the day's draft digest
    (outbox rows with dedupe keys: every scheduler may run it; nothing on days off)."""
    from checkins.schedule import tick as checkin_tick

    with rt.session() as session:
        done = checkin_tick(session, now=rt.now(), policy=rt.policy.checkins, rules=rt.rules)
    if done.prompts or done.reminders:
        rt.nudge_bots()
    return asdict(done)


def post_weekly_report(rt: Runtime) -> str | None:
    """Monday morning (office time): the 督查周报 goes to the supervisors' outbox, once."""
    now = rt.now()
    local = now.astimezone(rt.tz)
    if local.weekday() != 0 or local.hour < 8:
        return None
    from reports.post import weekly_notification

    with rt.session() as session:
        row = weekly_notification(
            session,
            now=now,
            rules=rt.rules,
            policy=rt.policy.ranking,
            out_dir=rt.settings.reports_path,
            office=rt.policy.office,
            task_policy=rt.policy.tasks,
        )
    return getattr(row, "dedupe_key", None)


def sweep(ctx: typer.Context, json: JsonOpt = False) -> None:
    from routing.sweeper import sweep as run_sweep

    rt = runtime(ctx)
    handed = run_sweep(rt.routing, rt.queue())
    if json:
        emit_json({"handed_on": handed})
    else:
        say(f"补发 {handed} 件")


def remind(ctx: typer.Context, json: JsonOpt = False) -> None:
    from routing.reminders import run_reminders

    rt = runtime(ctx)
    result = asdict(run_reminders(rt.routing))
    if json:
        emit_json(result)
    else:
        say(
            f"临期提醒 {result['reminders']}，超期催办 {result['overdue']}，"
            f"通报 {result['escalated']}，待分办超期 {result['triage_overdue']}"
        )
