"""Benchmark: firing one day's check-in timers for 10,000 residents, on SQLite and PostgreSQL.

Run from the repository root:

    python -m bench.checkin_timers [--residents 10000] [--pg postgresql://postgres@127.0.0.1:5432/test]

Each resident is signed up (consented, at the main menu) with a job's check-in due at 10:00 Paris
today. The clock is set to 10:01 and `Orchestrator.fire_due_timers` fires them all, the way the
work loop does: one transaction per timer, through the engine (the check-in question in the
resident's language, a check-in row, its nudge timer, an outbox row). On PostgreSQL the run uses a
schema of its own, dropped at the end; it also runs with 2 worker threads sharing the due rows
(FOR UPDATE SKIP LOCKED), to show the work can be shared.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, text

from bot.assistant import conversation_engine
from bot.engine.types import State
from bot.orchestrator import Orchestrator
from bot.store.db import make_engine, transaction
from bot.store.migrate import upgrade
from bot.store.models import ChannelIdentity, CheckIn, Conversation, Outbox, Resident, Timer

PARIS = ZoneInfo("Europe/Paris")
DUE = datetime(2026, 12, 8, 10, 0, tzinfo=PARIS).astimezone(UTC)  # a Tuesday, 10:00 in Paris
LANGS = ("fr", "en", "ar")


def populate(url: str, residents: int) -> None:
    """Residents, their identities and conversations, and one due check-in each (bulk inserts)."""
    db = make_engine(url)
    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with transaction(db) as session:
        session.execute(
            insert(Resident),
            [
                {
                    "id": i,
                    "created_at": created,
                    "language": LANGS[i % 3],
                    "first_name": f"R{i}",
                    "opted_out": False,
                    "consented_at": created,
                    "last_contact_at": created,
                }
                for i in range(1, residents + 1)
            ],
        )
        session.execute(
            insert(ChannelIdentity),
            [
                {"resident_id": i, "channel": "sms", "address": f"+3360{i:07d}", "created_at": created}
                for i in range(1, residents + 1)
            ],
        )
        states = {
            lang: State(lang=lang, lang_chosen=True, consented=True, onboarded=True).model_dump(mode="json")
            for lang in LANGS
        }
        session.execute(
            insert(Conversation),
            [
                {"resident_id": i, "state": states[LANGS[i % 3]], "status": "bot", "updated_at": created}
                for i in range(1, residents + 1)
            ],
        )
        session.execute(
            insert(Timer),
            [
                {
                    "key": f"checkin:{i}:7",
                    "resident_id": i,
                    "kind": "checkin",
                    "due_at": DUE,
                    "payload": {"key": f"checkin:{i}:7", "step": "job"},
                }
                for i in range(1, residents + 1)
            ],
        )
    if db.dialect.name == "postgresql":  # the ids were given explicitly: move the sequences on
        with db.begin() as conn:
            for table in ("resident", "channelidentity", "conversation", "timer"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    db.dispose()


def run(url: str, residents: int, workers: int = 1) -> dict[str, float]:
    """Populate, then fire; `workers` threads share the work on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
    upgrade(url)
    began = time.perf_counter()
    populate(url, residents)
    setup = time.perf_counter() - began
    db = make_engine(url)
    now = DUE.replace(minute=1)
    orchestrator = Orchestrator(db, conversation_engine(), lambda: now)
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        fired = sum(pool.map(lambda _: orchestrator.fire_due_timers(limit=10**7), range(workers)))
    seconds = time.perf_counter() - began
    with transaction(db) as session:
        outbox = session.scalar(select(func.count()).select_from(Outbox))
        checkins = session.scalar(select(func.count()).select_from(CheckIn))
        nudges = session.scalar(select(func.count()).where(Timer.kind == "checkin_nudge"))
    db.dispose()
    assert fired == residents and outbox == residents and checkins == residents and nudges == residents
    return {"setup_s": setup, "fire_s": seconds, "per_timer_ms": seconds / residents * 1000, "fired": fired}


def postgres(base: str, residents: int, workers: int = 1) -> dict[str, float]:
    """The same run in a schema of its own, dropped afterwards."""
    url = "postgresql+psycopg://" + base.split("://", 1)[1]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in url else "?"
        return run(f"{url}{sep}options=-csearch_path%3D{schema}", residents, workers)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument(
        "--pg", default=None, help="a PostgreSQL URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
    )
    parser.add_argument(
        "--pg-workers", type=int, default=2, help="also run PostgreSQL with this many workers"
    )
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite (WAL)"] = run(f"sqlite:///{tmp}/bench.db", args.residents)
    if args.pg:
        results["PostgreSQL"] = postgres(args.pg, args.residents)
        if args.pg_workers > 1:
            results[f"PostgreSQL x{args.pg_workers}"] = postgres(args.pg, args.residents, args.pg_workers)
    print(f"Firing one day's check-ins: {args.residents} residents, one due timer each")
    print(f"{'database':16} {'fire (s)':>9} {'per timer (ms)':>15} {'timers/s':>9}")
    for name, r in results.items():
        print(f"{name:16} {r['fire_s']:9.1f} {r['per_timer_ms']:15.2f} {r['fired'] / r['fire_s']:9.0f}")


if __name__ == "__main__":
    main()
