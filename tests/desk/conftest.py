"""The desk on the real ledger (SQLite and PostgreSQL), with the demo district's people."""

from __future__ import annotations

import pytest

from duban.runtime import Runtime
from routing.context import RoutingContext
from tests.helpers import Clock


@pytest.fixture
def ctx(runtime: Runtime, clock: Clock) -> RoutingContext:
    runtime.clock = clock
    return runtime.routing
