"""Counsellor accounts: argon2 password hashes (pwdlib) and signed bearer tokens (itsdangerous)."""

from __future__ import annotations

from datetime import datetime

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlmodel import Session

from bot.store.models import Counsellor

TOKEN_MAX_AGE = 12 * 3600  # a working day
_hasher = PasswordHash.recommended()  # argon2id
# Verifying against this when the email is unknown keeps the answer time the same either way.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """The account cannot be created (email taken, password too short...)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_counsellor(
    session: Session,
    email: str,
    password: str,
    name: str = "",
    admin: bool = False,
    now: datetime | None = None,
) -> Counsellor:
    """A new account; the email is stored lower-case and must be unused."""
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError("an email address is needed")
    if len(password) < 8:
        raise AccountError("the password needs at least 8 characters")
    if session.scalars(select(Counsellor).where(func.lower(Counsellor.email) == email)).first():
        raise AccountError(f"{email} already has an account")
    counsellor = Counsellor(email=email, name=name, password_hash=hash_password(password), is_admin=admin)
    if now is not None:
        counsellor.created_at = now
    session.add(counsellor)
    session.flush()
    return counsellor


def authenticate(session: Session, email: str, password: str) -> Counsellor | None:
    """The active account with this email and password, or None."""
    counsellor = session.scalars(
        select(Counsellor).where(func.lower(Counsellor.email) == email.strip().lower())
    ).first()
    if counsellor is None or not counsellor.active:
        _hasher.verify(password, _DUMMY_HASH)
        return None
    valid, new_hash = _hasher.verify_and_update(password, counsellor.password_hash)
    if not valid:
        return None
    if new_hash:
        counsellor.password_hash = new_hash
        session.add(counsellor)
    return counsellor


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="batissons-api-token")


def issue_token(secret: str, counsellor: Counsellor) -> str:
    """A bearer token naming the counsellor, signed with the service's secret key."""
    return _serializer(secret).dumps({"sub": counsellor.id})


def read_token(secret: str, token: str, max_age: int = TOKEN_MAX_AGE) -> int | None:
    """The counsellor id a valid, unexpired token names; None otherwise."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    sub = data.get("sub") if isinstance(data, dict) else None
    return sub if isinstance(sub, int) else None
