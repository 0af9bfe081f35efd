"""Real services for the tests, started once per session, wiped per test.

- PostgreSQL: a throw-away cluster (initdb/pg_ctl), one fresh database per test.
- Redis: a redis-server on a free port, flushed per test.
- Synapse: see tests/services/fixtures.py.

A service that cannot be found or started skips its tests locally and fails them when
``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from duban.runtime import Runtime
from duban.settings import REPO_ROOT, Settings
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory
from tests.helpers import unavailable
from tests.services.fixtures import synapse, unique_username  # noqa: F401
from tests.services.postgres import PostgresCluster, start_cluster
from tests.services.redis import RedisServer, start_redis

DATA_DIR = REPO_ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's DUBAN_* settings or writes into var/."""
    for key in list(os.environ):
        if key.startswith("DUBAN_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DUBAN_HOME", str(tmp_path / "home"))


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster | None]:
    try:
        cluster = start_cluster()
    except (RuntimeError, OSError) as exc:
        yield None
        _ = exc
        return
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster | None) -> Iterator[str]:
    if pg_cluster is None:
        unavailable("no PostgreSQL server binaries (apt install postgresql)")
    url = pg_cluster.create_database()
    try:
        yield url
    finally:
        pg_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An empty ledger at the latest schema, with the sample district's units and people."""
    eng = make_engine(db_url)
    schema.upgrade(eng)
    with session_scope(eng) as session:
        load_directory(session, DATA_DIR / "units.yaml")
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime on the test's ledger (settings from a clean environment)."""
    settings = Settings(
        home=tmp_path / "home", database_url=engine.url.render_as_string(hide_password=False)
    )
    rt = Runtime(settings=settings)
    rt.__dict__["engine"] = engine
    yield rt


# -- Redis ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    try:
        server = start_redis()
    except (RuntimeError, OSError):
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer | None) -> str:
    if redis_server is None:
        unavailable("no redis-server (apt install redis-server)")
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def clock() -> Callable[..., object]:
    """A settable clock for code that takes ``now=``."""
    from tests.helpers import Clock

    return Clock()
