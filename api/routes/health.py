"""GET /healthz: what an operator woken at 3 a.m. needs to know first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DBDep

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request, db: DBDep) -> JSONResponse:
    """Database reachable, scheduler running, outbox backlog, channels on or off."""
    settings = request.app.state.settings
    try:
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # the point of a health check is to report, not to raise
        database = f"error: {type(exc).__name__}"
    backlog = request.app.state.dispatcher.pending_count() if database == "ok" else None
    body = {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "scheduler": "running" if request.app.state.runner.running else "stopped",
        "outbox_backlog": backlog,
        "channels": {
            "sms": "on" if settings.sms_enabled else "off",
            "telegram": "on" if settings.telegram_enabled else "off",
        },
    }
    return JSONResponse(body, status_code=200 if database == "ok" else 503)
