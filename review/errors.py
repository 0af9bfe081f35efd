"""Review errors: the ledger's error types carry the Chinese text for people."""

from __future__ import annotations

from ledger.errors import BadInput, DubanError, IllegalTransition, NotFound, PermissionDenied

__all__ = ["BadInput", "DubanError", "IllegalTransition", "NotFound", "PermissionDenied"]
