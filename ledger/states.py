"""Groups of ticket states, each defined once: who owes the next step.

- ``TRIAGE_STATES`` (待分办): the desk owes the ticket a unit.
- ``WORKING_STATES`` (办理中): a unit owes an answer.
- ``OPEN_STATES``: someone owes something; lateness (超期) counts for these and only these.

Replied, verified and archived tickets owe nothing: a reply stops the clock.
"""

from __future__ import annotations

from ledger.models import TicketState

TRIAGE_STATES = frozenset({TicketState.REGISTERED, TicketState.RETURNED})
WORKING_STATES = frozenset({TicketState.ASSIGNED, TicketState.ACKNOWLEDGED, TicketState.REOPENED})
OPEN_STATES = TRIAGE_STATES | WORKING_STATES


def values(states: frozenset[TicketState]) -> list[str]:
    """The stored values of ``states``, in a stable order (for ``col(...).in_(...)``)."""
    return sorted(state.value for state in states)
