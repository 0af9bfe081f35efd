"""The Synapse fixture works end to end with matrix-nio: register, log in, invite, talk."""

from __future__ import annotations

import asyncio
import time

import nio
import pytest

from tests.services.synapse import SynapseServer

pytestmark = pytest.mark.synapse

PASSWORD = "correct horse battery staple"
TEXT = "请于三个工作日内答复:东湖路路灯不亮 #1024"


async def _login(url: str, mxid: str) -> nio.AsyncClient:
    client = nio.AsyncClient(url, mxid)
    resp = await client.login(PASSWORD, device_name="duban-tests")
    assert isinstance(resp, nio.LoginResponse), resp
    return client


async def _texts_from(client: nio.AsyncClient, room_id: str, sender: str) -> list[str]:
    """Sync until the room shows a message from ``sender``; return all such texts seen."""
    texts: list[str] = []
    deadline = time.monotonic() + 15
    while not texts and time.monotonic() < deadline:
        resp = await client.sync(timeout=1000, full_state=client.next_batch is None)
        assert isinstance(resp, nio.SyncResponse), resp
        room = resp.rooms.join.get(room_id)
        events = room.timeline.events if room else []
        texts += [
            event.body
            for event in events
            if isinstance(event, nio.RoomMessageText) and event.sender == sender
        ]
    return texts


async def _conversation(url: str, alice: str, bob: str) -> list[str]:
    a = await _login(url, alice)
    b = await _login(url, bob)
    try:
        created = await a.room_create(name="督办 smoke test")
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id

        invited = await a.room_invite(room_id, bob)
        assert isinstance(invited, nio.RoomInviteResponse), invited
        joined = await b.join(room_id)
        assert isinstance(joined, nio.JoinResponse), joined

        sent = await a.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": TEXT})
        assert isinstance(sent, nio.RoomSendResponse), sent
        return await _texts_from(b, room_id, alice)
    finally:
        await a.close()
        await b.close()


def test_register_returns_mxid(synapse: SynapseServer, unique_username) -> None:
    name = unique_username("plain")
    assert synapse.server_name == "localhost"
    assert synapse.register_user(name, PASSWORD) == f"@{name}:localhost"


def test_invited_user_receives_text(synapse: SynapseServer, unique_username) -> None:
    alice = synapse.register_user(unique_username("alice"), PASSWORD, admin=True)
    bob = synapse.register_user(unique_username("bob"), PASSWORD)

    texts = asyncio.run(_conversation(synapse.url, alice, bob))

    assert texts == [TEXT]
