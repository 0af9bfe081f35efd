"""The web desk on the real ledger (SQLite and PostgreSQL), driven through httpx.

``desk.client("zjj-ld")`` is a logged-in browser of that person (password set, login form
posted, the page's CSRF token kept as ``client.csrf``); ``desk.ticket(...)`` opens a
ticket and walks it to a state through ``desk.tickets``, as the other front ends would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from desk import tickets as D
from duban.runtime import Runtime
from ledger.directory import get_person
from ledger.models import Complainant, Event, Ticket
from ledger.tickets import Actor
from tests.helpers import Clock, make_ticket
from web.app import create_app
from web.auth import set_password

PASSWORD = "correct-horse-1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SUGGESTIONS = [
    {"unit": "zjj", "unit_name": "住建局", "confidence": 0.71},
    {"unit": "cgj", "unit_name": "城管局", "confidence": 0.18},
    {"unit": "jtj", "unit_name": "交通运输局", "confidence": 0.06},
    {"unit": "sthj", "unit_name": "生态环境分局", "confidence": 0.03},
]


@dataclass
class Desk:
    rt: Runtime
    app: Any = None
    clients: list[TestClient] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = create_app(self.rt)

    def anonymous(self) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        self.clients.append(client)
        return client

    def set_password(self, code: str, password: str = PASSWORD) -> None:
        with self.rt.session() as session:
            set_password(session, get_person(session, code), password, by="test", now=self.rt.now())

    def login_form(self, client: TestClient) -> str:
        found = CSRF.search(client.get("/login").text)
        assert found is not None
        return found.group(1)

    def client(self, code: str) -> TestClient:
        self.set_password(code)
        client = self.anonymous()
        response = client.post(
            "/login",
            data={"csrf": self.login_form(client), "code": code, "password": PASSWORD},
        )
        assert response.status_code == 303, response.text
        found = CSRF.search(client.get("/").text)
        assert found is not None
        client.csrf = found.group(1)  # type: ignore[attr-defined]
        return client

    def actor(self, code: str) -> Actor:
        with self.rt.session() as session:
            person = get_person(session, code)
            session.expunge(person)
            return Actor.of(person)

    def ticket(
        self, state: str = "registered", unit: str = "住建局", text: str | None = None
    ) -> str:
        """A ticket walked to ``state`` (registered, assigned, acknowledged, replied,
        extension = acknowledged with a pending request, verified)."""
        with self.rt.session() as session:
            ticket = make_ticket(
                session,
                self.rt.rules,
                text=text or "东湖路路灯不亮，晚上很黑，请尽快修复",
                now=self.rt.now(),
            )
            ticket.suggestions = SUGGESTIONS
            session.add(ticket)
            session.add(
                Complainant(message_id=ticket.message_id, name="张三", contact="13800001111")
            )
            number = ticket.number
        ctx = self.rt.routing
        leader = "zjj-ld" if unit == "住建局" else "cgj-1"
        if state == "registered":
            return number
        D.assign(ctx, number, unit, actor=self.actor("luru1"))
        if state == "assigned":
            return number
        D.acknowledge(ctx, number, actor=self.actor(leader))
        if state == "acknowledged":
            return number
        if state == "extension":
            D.request_extension(ctx, number, 3, "需协调供电公司", actor=self.actor(leader))
            return number
        D.reply(ctx, number, "已更换路灯并恢复照明", actor=self.actor(leader))
        if state == "replied":
            return number
        D.verify(ctx, number, passed=True, score=5, actor=self.actor("ducha1"))
        assert state == "verified", state
        return number

    def snapshot(self, number: str) -> tuple[str, int, int]:
        """State, version and number of events: what a refused request must not change."""
        with self.rt.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            events = session.exec(
                select(func.count()).select_from(Event).where(Event.ticket_id == ticket.id)
            ).one()
            return ticket.state, ticket.version, events

    def version(self, number: str) -> int:
        return self.snapshot(number)[1]

    def close(self) -> None:
        for client in self.clients:
            client.close()


@pytest.fixture
def site(runtime: Runtime, clock: Clock) -> Any:
    runtime.clock = clock
    d = Desk(runtime)
    yield d
    d.close()
