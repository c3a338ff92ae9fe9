"""Shared FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine
from sqlmodel import Session

from bot.accounts import read_token
from bot.store.models import Counsellor


def get_db(request: Request) -> Engine:
    """The application's database engine."""
    return request.app.state.db


def get_session(db: Annotated[Engine, Depends(get_db)]) -> Iterator[Session]:
    """A session for one request."""
    with Session(db) as session:
        yield session


DBDep = Annotated[Engine, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_clock(request: Request) -> Callable[[], datetime]:
    """The application's clock (tests pass a controllable one to create_app)."""
    return request.app.state.clock


ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def current_counsellor(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> Counsellor:
    """The counsellor named by a valid bearer token; 401 otherwise."""
    unauthorized = HTTPException(
        status.HTTP_401_UNAUTHORIZED, "not authenticated", headers={"WWW-Authenticate": "Bearer"}
    )
    if not token:
        raise unauthorized
    counsellor_id = read_token(request.app.state.settings.effective_secret_key(), token)
    counsellor = session.get(Counsellor, counsellor_id) if counsellor_id is not None else None
    if counsellor is None or not counsellor.active:
        raise unauthorized
    return counsellor


CurrentCounsellor = Annotated[Counsellor, Depends(current_counsellor)]


def current_admin(counsellor: CurrentCounsellor) -> Counsellor:
    """An admin (manages accounts and slots, reads the audit log); 403 for other counsellors."""
    if not counsellor.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return counsellor


CurrentAdmin = Annotated[Counsellor, Depends(current_admin)]
