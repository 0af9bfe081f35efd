"""Refusals of the task area; every one is a ledger error with its Chinese text."""

from __future__ import annotations

from ledger.errors import BadInput


class TaskImportError(BadInput):
    """A task list that cannot be read at all (not a row: the whole file)."""
