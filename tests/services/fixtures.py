"""Pytest fixtures for the real Synapse homeserver.

``tests/conftest.py`` makes these available to every test with::

    from tests.services.fixtures import synapse, unique_username  # noqa

Until it does, a test module imports them itself the same way.

- ``synapse`` (session): a running :class:`SynapseServer` with ``.url``, ``.server_name``
  and ``.register_user(username, password, admin=False) -> mxid``. The first run installs
  the pinned Synapse into ``var/synapse-venv`` (about 30 s); later runs start in about 2 s.
  When Synapse cannot be installed or started the tests skip, or fail under ``CI=true``.
- ``unique_username`` (function): ``unique_username(prefix="user") -> str``, a Matrix
  localpart no other test has used, since all tests share the one homeserver.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.helpers import unavailable
from tests.services.synapse import (
    SynapseServer,
    SynapseUnavailable,
    ensure_synapse_venv,
    repo_var,
)

__all__ = ["SynapseServer", "synapse", "unique_username"]


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    try:
        bin_dir = ensure_synapse_venv(repo_var())
        server = SynapseServer(bin_dir, tmp_path_factory.mktemp("synapse"))
        server.start()
    except SynapseUnavailable as exc:
        unavailable(f"no Synapse homeserver: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def unique_username() -> Callable[[str], str]:
    run = uuid.uuid4().hex[:8]
    count = 0

    def make(prefix: str = "user") -> str:
        nonlocal count
        count += 1
        return f"{prefix.lower()}-{run}-{count}"

    return make
