"""Who may see a ticket and act on it: one domain service for every front end.

Modelled on Signalen's ``SignalPermissionService``: chat, CLI and web ask these functions,
never decide for themselves. A ticket a person may not see is answered exactly like a
ticket that does not exist (``visible_ticket`` returns None), so nobody learns what other
units hold.

Separation of duties (职责分离): nobody approves, checks or scores the work of a unit they
belong to, and nobody hands a ticket to their own unit; the ledger's role checks come on
top (``ledger.tickets.check_allowed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from desk.errors import DutyConflict
from ledger import tickets as T
from ledger.errors import BadInput, NotFound
from ledger.models import Person, Role, Ticket, Unit

STAFF_ROLES = (Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)
# Steps that judge a unit's work: never by a person of that unit.
JUDGING_ACTIONS = frozenset(
    {"approve_extension", "deny_extension", "verify_pass", "verify_fail", "reopen"}
)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, and from where.

    ``person`` None is a system actor (the console operator), who sees everything.
    ``unit_scope`` is set when the person speaks in a unit's chat: there only that unit's
    tickets are shown, whoever asks (a supervisor sitting in a unit's group included).
    """

    person: Person | None
    unit_scope: int | None = None
    in_unit_chat: bool = False

    @property
    def is_staff(self) -> bool:
        return self.person is None or is_staff(self.person)


def is_staff(person: Person) -> bool:
    """Intake staff, supervisors and administrators: they see every ticket."""
    return person.has_role(*STAFF_ROLES)


def sees_complainant(person: Person | None) -> bool:
    """Whether the complainant's name and contact may be shown (never to a unit)."""
    return person is None or is_staff(person)


def can_see(viewer: Viewer, ticket: Ticket) -> bool:
    if viewer.in_unit_chat and (viewer.unit_scope is None or ticket.unit_id != viewer.unit_scope):
        return False
    person = viewer.person
    if person is None or is_staff(person):
        return True
    return ticket.unit_id is not None and ticket.unit_id == person.unit_id


def visible_ticket(session: Session, viewer: Viewer, number: str | None) -> Ticket | None:
    """The ticket if ``viewer`` may see it, else None (never say why)."""
    if number is None or (viewer.person is not None and not viewer.person.active):
        return None
    try:
        ticket = T.get_ticket(session, number)
    except (NotFound, BadInput):
        return None
    return ticket if can_see(viewer, ticket) else None


def check_duties(
    session: Session,
    ticket: Ticket,
    action: str,
    actor: T.Actor,
    *,
    target: Unit | None = None,
) -> None:
    """Raise ``DutyConflict`` when ``actor`` would judge or take their own unit's work."""
    person = actor.person
    if person is None or person.unit_id is None:
        return
    if action in JUDGING_ACTIONS and ticket.unit_id == person.unit_id:
        unit = session.get(Unit, ticket.unit_id)
        name = unit.short_name if unit is not None else "本单位"
        raise DutyConflict(
            f"{ticket.number} 由「{name}」办理，您是该单位人员，不能{T.ACTION_LABELS[action]}"
            "本单位的事项（职责分离：须由其他督查人员办理）",
            f"{person.code} belongs to the unit whose work {action} judges",
        )
    if action in ("assign", "reassign") and target is not None and target.id == person.unit_id:
        raise DutyConflict(
            f"不能把 {ticket.number} 交办给您本人所在的「{target.short_name}」"
            "（职责分离：须由其他录入员或督查人员分办）",
            f"{person.code} may not assign a ticket to their own unit",
        )
