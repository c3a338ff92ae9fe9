"""Shared FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session


def get_db(request: Request) -> Engine:
    """The application's database engine."""
    return request.app.state.db


def get_session(db: Annotated[Engine, Depends(get_db)]) -> Iterator[Session]:
    """A session for one request."""
    with Session(db) as session:
        yield session


DBDep = Annotated[Engine, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
