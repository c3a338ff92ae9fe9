"""The web inbox's plumbing: signed session cookie, CSRF tokens, login redirects, templates, headers."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from api.deps import SessionDep
from bot.settings import Settings
from bot.store.models import Counsellor
from bot.throttle import LoginThrottle

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
SESSION_COOKIE = "batissons_session"
SESSION_MAX_AGE = 12 * 3600  # a working day
# No script runs in the inbox: whatever a resident writes can only ever be text.
CSP = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; form-action 'self'"
)


class LoginRequired(Exception):
    """A page needs a signed-in counsellor: the handler redirects to /login."""


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d}"
    return f"{hours // 24} d {hours % 24} h"


def install(app: FastAPI, settings: Settings) -> None:
    """Session cookie (HttpOnly, SameSite=Lax, Secure over https), the login redirect, templates."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.effective_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
    )
    app.state.login_throttle = LoginThrottle()
    zone = ZoneInfo(settings.timezone)

    def local(moment: datetime | None, pattern: str = "%d/%m %H:%M") -> str:
        return moment.astimezone(zone).strftime(pattern) if moment else ""

    TEMPLATES.env.filters["local"] = local
    TEMPLATES.env.filters["duration"] = _duration

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={target}", status.HTTP_303_SEE_OTHER)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use; every form carries it."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(request: Request) -> None:
    """Refuse a form whose csrf field does not match the session's token (403)."""
    form = await request.form()
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not expected or not secrets.compare_digest(sent, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid or missing CSRF token: reload the page")


CsrfChecked = Depends(verify_csrf)
Csrf = Annotated[None, Depends(verify_csrf)]  # declared after the counsellor: sign-in is checked first


def page_counsellor(request: Request, session: SessionDep) -> Counsellor:
    """The signed-in counsellor of a page; a redirect to /login otherwise."""
    counsellor_id = request.session.get("counsellor_id")
    counsellor = session.get(Counsellor, counsellor_id) if isinstance(counsellor_id, int) else None
    if counsellor is None or not counsellor.active:
        request.session.pop("counsellor_id", None)
        raise LoginRequired()
    return counsellor


PageCounsellor = Annotated[Counsellor, Depends(page_counsellor)]


def page_admin(counsellor: PageCounsellor) -> Counsellor:
    """An admin's page: 403 for other counsellors."""
    if not counsellor.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "admins only")
    return counsellor


PageAdmin = Annotated[Counsellor, Depends(page_admin)]


def render(request: Request, name: str, counsellor: Counsellor | None = None, **context: Any) -> Response:
    """A page, with the CSRF token, the counsellor, a flash message and the security headers."""
    flash = request.session.pop("flash", None)
    response = TEMPLATES.TemplateResponse(
        request,
        name,
        {"csrf": csrf_token(request), "me": counsellor, "flash": flash, **context},
    )
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def flash(request: Request, message: str) -> None:
    """A one-line message shown on the next page (an error, or what was done)."""
    request.session["flash"] = message
