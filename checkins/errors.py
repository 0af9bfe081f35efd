"""Check-in errors: the desk's error types carry the Chinese text for people."""

from __future__ import annotations

from ledger.errors import BadInput, DubanError, NotFound, PermissionDenied

__all__ = ["BadInput", "BadPhoto", "DubanError", "NotFound", "PermissionDenied"]


class BadPhoto(BadInput):
    """A photo too large or not an image."""
