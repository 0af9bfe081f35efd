"""一日三晒 on the real ledger (SQLite and PostgreSQL): a check-in group of 住建局 and 城管局
talking in the 住建局 chat, and the digest posted back there."""

from __future__ import annotations

import struct
import zlib

import pytest

from duban.runtime import Runtime
from ledger.directory import get_person
from ledger.policy import CheckinGroup, CheckinPolicy
from ledger.tickets import Actor
from routing.context import RoutingContext
from tests.helpers import Clock

GROUP_CHAT = "-100102"  # the 住建局 group in tests/bots/test_telegram.py


def checkin_policy(**kw: object) -> CheckinPolicy:
    values: dict[str, object] = {
        "groups": {
            "jianshe": CheckinGroup(
                label="城建口", units=["zjj", "城管局"], chats=[f"telegram:{GROUP_CHAT}"]
            )
        },
        "digest_groups": ["jianshe"],
        "max_photo_bytes": 64 * 1024,
    }
    values.update(kw)
    return CheckinPolicy.model_validate(values)


@pytest.fixture
def ctx(runtime: Runtime, clock: Clock) -> RoutingContext:
    runtime.clock = clock
    context = runtime.routing
    context.policy = context.policy.model_copy(update={"checkins": checkin_policy()})
    return context


def actor(ctx: RoutingContext, code: str) -> Actor:
    with ctx.session() as session:
        found = get_person(session, code)
        session.expunge(found)
        return Actor.of(found)


def png(seed: int = 0, size: int = 2) -> bytes:
    """A real (tiny) PNG; ``seed`` changes its pixels and so its hash."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([seed % 256, 80, 160]) * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
