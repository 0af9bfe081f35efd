"""One-time login links for the web desk, handed out from chat (``/登录``) or by an admin.

A link is a random secret valid for ten minutes, used once; the ledger keeps only its
sha256, so a copy of the database logs nobody in. It lives here, below every front end, so
the bot can hand one out and the web desk can take it back.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session

from ledger.models import LoginLink, Person

LOGIN_LINK_TTL = timedelta(minutes=10)
LOGIN_LINK_PATH = "/login/link/"


def digest(secret: str) -> str:
    """What the ledger keeps of a secret (session, token, link): its sha256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_login_link(session: Session, person: Person, *, by: str, now: datetime) -> str:
    """A secret for ``/login/link/<secret>``: single use, valid for ten minutes."""
    assert person.id is not None
    secret = secrets.token_urlsafe(24)
    session.add(
        LoginLink(
            token_hash=digest(secret),
            person_id=person.id,
            created_by=by,
            created_at=now,
            expires_at=now + LOGIN_LINK_TTL,
        )
    )
    return secret


def login_url(base: str, secret: str) -> str:
    """The link a person opens: ``https://desk.example/login/link/<secret>``."""
    return base.rstrip("/") + LOGIN_LINK_PATH + secret
