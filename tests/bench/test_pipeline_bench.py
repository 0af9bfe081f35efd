"""bench/pipeline.py: the PostgreSQL run stops with a clear message when its rq workers
die or stop routing, instead of waiting forever for messages nobody routes; its clock
starts once every worker has started (registered with Redis, the model loaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Worker

from bench.pipeline import WorkersGone, wait_for_routing, wait_for_workers
from duban.runtime import Runtime
from intake.items import IntakeItem
from intake.store import accept


def _waiting_message(runtime: Runtime) -> None:
    with runtime.session() as session:  # stored, never routed
        accept(
            session,
            [IntakeItem(text="青山水库边有人电鱼")],
            policy=runtime.policy,
            now=runtime.now(),
        )


def test_a_dead_worker_stops_the_wait_with_its_log(runtime: Runtime, tmp_path: Path) -> None:
    _waiting_message(runtime)
    log = tmp_path / "worker-0.log"
    log.write_text("Traceback: the model could not be loaded\n")
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    dead.wait(30)
    with pytest.raises(WorkersGone, match="exited with code 3") as raised:
        wait_for_routing(runtime, [dead], timeout=600, logs=[log])
    assert "the model could not be loaded" in str(raised.value)


def test_live_workers_that_route_nothing_time_out(runtime: Runtime, tmp_path: Path) -> None:
    _waiting_message(runtime)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(WorkersGone, match="no message routed for 1 s"):
            wait_for_routing(runtime, [idle], timeout=1, logs=[tmp_path / "worker-0.log"])
    finally:
        idle.kill()
        idle.wait(30)


def test_nothing_waiting_returns_the_counts(runtime: Runtime, tmp_path: Path) -> None:
    assert wait_for_routing(runtime, [], timeout=1, logs=[]) == (0, 0, 0)


def test_the_clock_waits_for_every_worker_to_register(redis_url: str, tmp_path: Path) -> None:
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(WorkersGone, match="did not start within 1 s"):
            wait_for_workers(redis_url, [idle], timeout=1, logs=[tmp_path / "worker-0.log"])
        connection = Redis.from_url(redis_url)
        Worker([Queue("bench", connection=connection)], connection=connection).register_birth()
        assert wait_for_workers(redis_url, [idle], timeout=1, logs=[]) < 1
    finally:
        idle.kill()
        idle.wait(30)


def test_a_worker_dying_at_start_up_is_reported(redis_url: str, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(2)"])
    dead.wait(30)
    with pytest.raises(WorkersGone, match="exited with code 2"):
        wait_for_workers(redis_url, [dead], timeout=600, logs=[tmp_path / "worker-0.log"])
