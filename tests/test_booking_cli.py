"""The booking commands: counsellor accounts, demo slots, a booking in `chat` and its reminder."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.test_cli import run


def test_counsellor_create_reads_the_password_from_stdin_and_hashes_it(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    created = run(
        ["counsellor", "create", "Lea@Batissons.fr", "--name", "Léa", "--admin"], db, "s3cret-pass\n"
    )
    assert created.returncode == 0, created.stderr
    assert "lea@batissons.fr (admin)" in created.stdout
    [(email, stored, admin)] = sqlite3.connect(db).execute(
        "SELECT email, password_hash, is_admin FROM counsellor"
    )
    assert email == "lea@batissons.fr" and admin == 1
    assert stored.startswith("$argon2id$") and "s3cret-pass" not in stored
    again = run(["counsellor", "create", "lea@batissons.fr"], db, "another-pass\n")
    assert again.returncode == 2 and "already has an account" in again.stderr
    short = run(["counsellor", "create", "sam@batissons.fr"], db, "short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr


def test_demo_slots_a_booking_in_chat_and_its_reminder(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    seeded = run(["slots", "seed-demo"], db)
    assert "new slots" in seeded.stdout and "demo@batissons.fr" in seeded.stdout
    assert "demo data: 0 new slots" in run(["slots", "seed-demo"], db).stdout
    script = "Bonjour\n1\n1\nAmina\n93200\n1\n2\n2\n3\n1\n1\n2\n1\n"  # the 2nd date: >24 h ahead
    out = run(["chat", "--channel", "sms"], db, script).stdout
    assert "Voici les prochaines dates libres." in out and "C'est réservé !" in out
    due = sqlite3.connect(db).execute("SELECT min(due_at) FROM timer WHERE fired_at IS NULL").fetchone()[0]
    at = datetime.fromisoformat(due).replace(tzinfo=UTC).isoformat()
    fired = run(["timers", "fire", "--at", at, "--channel", "sms"], db).stdout
    assert "Rappel : réunion d'information" in fired and "1 Je viens" in fired
    assert "1 timer(s) handled" in fired
    assert "0 timer(s) handled" in run(["timers", "fire", "--at", at], db).stdout
