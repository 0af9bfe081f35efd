"""A hand-built ledger for the reports, with every figure worked out by hand.

ISO week 2026-W47 is Monday 16 to Sunday 22 November 2026 (no holiday). Limits are set per
ticket (``time_limit_days``) so the due days are easy to count:

  T1  rcv Mon 11-09  3 wd  due Thu 11-12  zjj  ack 11-10, reply Mon 11-16 (late)
  T2  rcv Wed 11-11  5 wd  due Wed 11-18  zjj  ack 11-11, reply 11-17, verify pass 5 on 11-19
  T3  rcv Wed 11-11  5 wd  due Wed 11-18  cgj  ack 11-12, reply only on Mon 11-23 08:30
  T4  rcv Tue 11-10  3 wd  due Fri 11-13  zjj  ack 11-10, +3 wd approved 11-12 -> due 11-18,
                                               reply 11-17 (on time only with the extension)
  T5  rcv Wed 11-18 15 wd  (not yet due)  zjj  ack Fri 11-20
  T6  rcv Mon 11-16  2 wd  due Wed 11-18  cgj, returned by cgj 11-17, reassigned zjj 11-17,
                                               ack 11-17, reply 11-18, verify fail 2 on 11-19
  T7  rcv Mon 11-16 10 wd  never assigned (triage)
  T8  rcv Mon 11-02  5 wd  due Mon 11-09  zjj  never answered
  T9  rcv Mon 11-16 10 wd  due 11-30      cgj  reply 11-18 without 签收 (a 群众来信)
  T10 rcv Mon 11-23 08:00 (after the week)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from ledger import tickets as T
from ledger.directory import find_unit
from ledger.models import Ticket
from tests.helpers import local, make_ticket, rules_for

RULES = rules_for()
ACTOR = T.Actor.system("test")
REPORT_NOW = local(2026, 11, 23, 9)  # the Monday after 2026-W47


@dataclass
class Built:
    tickets: dict[str, Ticket]


def build(session: Session) -> Built:
    zjj, cgj = find_unit(session, "zjj"), find_unit(session, "cgj")
    made: dict[str, Ticket] = {}

    def ticket(name: str, received, days: int, kind: str = "online") -> Ticket:
        made[name] = make_ticket(
            session,
            RULES,
            received_at=received,
            time_limit_days=days,
            text=f"{name} 路灯不亮",
            external_id=name,
            kind=kind,
        )
        return made[name]

    def assign(t: Ticket, unit, at) -> None:
        T.assign(session, t, unit, actor=ACTOR, now=at, routed_by="manual")

    def ack(t: Ticket, at) -> None:
        T.acknowledge(session, t, actor=ACTOR, now=at)

    def reply(t: Ticket, at) -> None:
        T.reply(session, t, "已处理", actor=ACTOR, now=at)

    t1 = ticket("T1", local(2026, 11, 9, 10), 3)
    assign(t1, zjj, local(2026, 11, 9, 11))
    ack(t1, local(2026, 11, 10))
    reply(t1, local(2026, 11, 16, 10))

    t2 = ticket("T2", local(2026, 11, 11, 10), 5)
    assign(t2, zjj, local(2026, 11, 11, 10, 30))
    ack(t2, local(2026, 11, 11, 15))
    reply(t2, local(2026, 11, 17, 10))
    T.verify(session, t2, passed=True, score=5, actor=ACTOR, now=local(2026, 11, 19, 10))

    t3 = ticket("T3", local(2026, 11, 11, 10), 5)
    assign(t3, cgj, local(2026, 11, 11, 11))
    ack(t3, local(2026, 11, 12))
    reply(t3, local(2026, 11, 23, 8, 30))  # after the week: not seen by its report

    t4 = ticket("T4", local(2026, 11, 10, 10), 3)
    assign(t4, zjj, local(2026, 11, 10, 11))
    ack(t4, local(2026, 11, 10, 14))
    T.request_extension(
        session, t4, 3, "需要现场勘查", actor=ACTOR, now=local(2026, 11, 11), max_days=15
    )
    T.decide_extension(session, t4, approve=True, actor=ACTOR, now=local(2026, 11, 12), rules=RULES)
    reply(t4, local(2026, 11, 17, 16))

    t5 = ticket("T5", local(2026, 11, 18, 10), 15)
    assign(t5, zjj, local(2026, 11, 18, 11))
    ack(t5, local(2026, 11, 20))

    t6 = ticket("T6", local(2026, 11, 16, 9), 2)
    assign(t6, cgj, local(2026, 11, 16, 10))
    T.return_ticket(session, t6, "不属于我局职责", actor=ACTOR, now=local(2026, 11, 17, 9))
    assign(t6, zjj, local(2026, 11, 17, 10))
    ack(t6, local(2026, 11, 17, 11))
    reply(t6, local(2026, 11, 18, 10))
    T.verify(
        session,
        t6,
        passed=False,
        score=2,
        actor=ACTOR,
        now=local(2026, 11, 19, 11),
        note="未附整改照片",
    )

    ticket("T7", local(2026, 11, 16, 11), 10)

    t8 = ticket("T8", local(2026, 11, 2, 10), 5)
    assign(t8, zjj, local(2026, 11, 2, 11))

    t9 = ticket("T9", local(2026, 11, 16, 12), 10, "letter")
    assign(t9, cgj, local(2026, 11, 16, 13))
    reply(t9, local(2026, 11, 18, 15))

    t10 = ticket("T10", local(2026, 11, 23, 8), 5)
    assign(t10, cgj, local(2026, 11, 23, 8, 10))
    return Built(made)
