"""Passwords, sessions, API tokens, one-time login links and login throttling.

Secrets handed out (session cookies, API tokens, login links) are random; the ledger keeps
only their sha256, so a copy of the database logs nobody in. Passwords are argon2 hashes.
Every function takes ``session`` and ``now``: nothing here reads the clock.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from desk.logins import digest
from ledger.errors import BadInput
from ledger.models import ApiToken, LoginAttempt, LoginLink, Person, WebPassword, WebSession
from web.errors import LoginRefused, LoginThrottled

SESSION_TTL = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_PERSON = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "dbn_"
KEEP_ATTEMPTS = timedelta(days=1)
KEEP_SESSIONS = timedelta(days=30)

_hasher = PasswordHasher()
# Verified when the code names nobody, so a wrong code costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("duban-no-such-person")


# -- passwords -------------------------------------------------------------------------------


def set_password(
    session: Session, person: Person, password: str, *, by: str, now: datetime
) -> None:
    """Store an argon2 hash of ``password`` for ``person`` (replacing any earlier one) and
    end the person's open sessions."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadInput(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符 (password too short)")
    if password.strip() != password:
        raise BadInput("密码首尾不能有空格 (password has leading or trailing spaces)")
    assert person.id is not None
    row = session.get(WebPassword, person.id)
    if row is None:
        row = WebPassword(person_id=person.id, password_hash="", set_at=now, set_by=by)
    row.password_hash = _hasher.hash(password)
    row.set_at, row.set_by = now, by
    session.add(row)
    revoke_sessions(session, person, now=now)


def check_throttle(session: Session, code: str, address: str, *, now: datetime) -> None:
    """Refuse a login when this person or this address failed too often lately."""
    since = now - THROTTLE_WINDOW
    failed = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(
            LoginAttempt.ok == False,  # noqa: E712 (SQL expression)
            col(LoginAttempt.at) >= since,
        )
    )
    by_person = session.exec(failed.where(LoginAttempt.person_code == code)).one()
    by_address = session.exec(failed.where(LoginAttempt.address == address)).one()
    if by_person >= MAX_FAILURES_PER_PERSON or by_address >= MAX_FAILURES_PER_ADDRESS:
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise LoginThrottled(
            f"登录失败次数过多，请 {minutes} 分钟后再试",
            f"login throttled for {code!r} from {address}",
        )


def authenticate(
    session: Session, code: str, password: str, *, address: str, now: datetime
) -> Person | None:
    """The person whose code and password these are, or None (the caller says so without
    telling which was wrong). Every attempt is recorded for throttling, so the caller
    commits before refusing (``LoginThrottled`` is raised before anything is recorded)."""
    code = (code or "").strip()[:64]
    address = (address or "unknown")[:64]
    check_throttle(session, code, address, now=now)
    person = session.exec(select(Person).where(Person.code == code)).first() if code else None
    stored = session.get(WebPassword, person.id) if person is not None else None
    ok = False
    try:
        ok = _hasher.verify(stored.password_hash if stored else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and stored is not None and person is not None and person.active
    session.add(LoginAttempt(person_code=code, address=address, ok=ok, at=now))
    prune(session, now=now)
    if not ok or person is None:
        return None
    if stored is not None and _hasher.check_needs_rehash(stored.password_hash):
        stored.password_hash = _hasher.hash(password)
        session.add(stored)
    return person


def prune(session: Session, *, now: datetime) -> None:
    """Forget login attempts older than a day and sessions and links long expired, so the
    tables stay small (done on each login: logins are rare)."""
    session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < now - KEEP_ATTEMPTS))
    session.execute(delete(WebSession).where(col(WebSession.expires_at) < now - KEEP_SESSIONS))
    session.execute(delete(LoginLink).where(col(LoginLink.expires_at) < now - KEEP_SESSIONS))


def refused() -> LoginRefused:
    return LoginRefused("编号或密码不正确，或账号已停用", "login refused")


# -- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Login:
    """A session just opened: the cookie's secret is handed out once, here."""

    secret: str
    csrf: str
    person: Person


def open_session(session: Session, person: Person, *, address: str | None, now: datetime) -> Login:
    assert person.id is not None
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        WebSession(
            token_hash=digest(secret),
            person_id=person.id,
            csrf_token=csrf,
            address=(address or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    return Login(secret=secret, csrf=csrf, person=person)


def session_person(
    session: Session, secret: str | None, *, now: datetime
) -> tuple[WebSession, Person] | None:
    """The open session of this cookie and its person; None when unknown, expired, revoked,
    or when the person was deactivated (the session is revoked then)."""
    if not secret:
        return None
    row = session.exec(select(WebSession).where(WebSession.token_hash == digest(secret))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    person = session.get(Person, row.person_id)
    if person is None or not person.active:
        row.revoked_at = now
        session.add(row)
        return None
    if now - row.last_seen_at > timedelta(minutes=5):
        row.last_seen_at = now
        session.add(row)
    return row, person


def close_session(session: Session, secret: str | None, *, now: datetime) -> None:
    if not secret:
        return
    row = session.exec(select(WebSession).where(WebSession.token_hash == digest(secret))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        session.add(row)


def revoke_sessions(session: Session, person: Person, *, now: datetime) -> int:
    """End every open session of ``person`` (deactivated, password changed)."""
    rows = session.exec(
        select(WebSession).where(
            WebSession.person_id == person.id,
            col(WebSession.revoked_at).is_(None),
        )
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def revoke_inactive(session: Session, *, now: datetime) -> int:
    """End the sessions of every inactive person (after ``units.yaml`` is reloaded)."""
    people = session.exec(select(Person).where(Person.active == False)).all()  # noqa: E712
    return sum(revoke_sessions(session, p, now=now) for p in people)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


# -- API tokens ------------------------------------------------------------------------------


def issue_token(
    session: Session, person: Person, *, by: str, now: datetime, label: str | None = None
) -> str:
    """A new personal access token for ``person``; returned once, stored as its sha256."""
    assert person.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=digest(token),
            prefix=token[:12],
            person_id=person.id,
            label=label,
            created_by=by,
            created_at=now,
        )
    )
    return token


def token_person(session: Session, token: str | None, *, now: datetime) -> Person | None:
    if not token:
        return None
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    person = session.get(Person, row.person_id)
    if person is None or not person.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
        row.last_used_at = now
        session.add(row)
    return person


def revoke_tokens(session: Session, person: Person, *, now: datetime) -> int:
    rows = session.exec(
        select(ApiToken).where(ApiToken.person_id == person.id, col(ApiToken.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


# -- one-time login links ---------------------------------------------------------------------


def use_login_link(session: Session, secret: str, *, now: datetime) -> Person:
    row = session.exec(select(LoginLink).where(LoginLink.token_hash == digest(secret))).first()
    person = session.get(Person, row.person_id) if row is not None else None
    if row is None or row.used_at is not None or row.expires_at <= now or person is None:
        raise LoginRefused("登录链接无效、已使用或已过期，请重新获取", "login link refused")
    if not person.active:
        raise LoginRefused("账号已停用", "login link of an inactive person")
    row.used_at = now
    session.add(row)
    return person
