"""Errors of routing."""

from __future__ import annotations

from ledger.errors import DubanError


class RoutingError(DubanError):
    """Base class; ``exit_code`` follows the CLI contract (1 failure, 2 bad input)."""

    exit_code = 1


class BadRules(RoutingError):
    """The routing rules file is malformed; the message names the rule and field."""

    exit_code = 2


class NotConfigured(RoutingError):
    """A job ran in a process that was not set up by ``duban worker``."""


class DatabaseUnavailable(RoutingError):
    """The ledger stayed unreachable through every retry; what was committed before stays."""


class WorkerNameTaken(RoutingError):
    """A live worker (here, or on another host) already runs under the requested name."""


BASE_ERROR = RoutingError
