"""POST /api/auth/token: a counsellor's email and password for a bearer token (OAuth2 password flow)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import DBDep
from bot.accounts import authenticate, issue_token
from bot.store.db import transaction

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@router.post("/token", response_model=Token)
def token(request: Request, db: DBDep, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """`username` is the counsellor's email. The token lasts a working day (12 hours).

    Failed attempts are throttled like the web login: 5 per address or account in 15 minutes.
    """
    now = request.app.state.clock()
    throttle = request.app.state.login_throttle
    keys = [f"ip:{request.client.host if request.client else '?'}", f"email:{form.username.strip().lower()}"]
    if throttle.blocked(keys, now):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed attempts, try again later")
    with transaction(db) as session:
        # PostgreSQL text refuses NUL: such a login is simply wrong.
        ok = "\x00" not in form.username + form.password
        counsellor = authenticate(session, form.username, form.password) if ok else None
        if counsellor is None:
            throttle.failed(keys, now)
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "wrong email or password",
                headers={"WWW-Authenticate": "Bearer"},
            )
        throttle.succeeded(keys)
        secret = request.app.state.settings.effective_secret_key()
        return Token(access_token=issue_token(secret, counsellor))
