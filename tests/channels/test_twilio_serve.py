"""`batissons serve` as operators run it, with SMS pointed at the fake Twilio, killed and restarted."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.channels.twilio_kit import OUR_NUMBER, PUBLIC, SMS_PATH, inbound_form, post_signed
from tests.fakes.twilio_api import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
RESIDENT = "+33612345678"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], object], timeout: float = 30) -> None:
    """Poll until the condition holds (a deadline for a hung server, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


@contextmanager
def serve(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`batissons serve` in its own process, ready when /healthz answers."""
    command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


def outbox(db: Path) -> list[tuple[str, int]]:
    """(status, attempts) of every outbox row."""
    with sqlite3.connect(db) as conn:
        try:
            return list(conn.execute("SELECT status, attempts FROM outbox ORDER BY id"))
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def test_serve_killed_between_the_outbox_write_and_the_send_then_a_full_onboarding(tmp_path: Path) -> None:
    db, log, port = tmp_path / "serve.db", tmp_path / "serve.log", free_port()
    with FakeTwilio() as fake:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{db}",
            "PUBLIC_BASE_URL": PUBLIC,
            "SECRET_KEY": "test",
            "TWILIO_ACCOUNT_SID": fake.account_sid,
            "TWILIO_AUTH_TOKEN": fake.auth_token,
            "TWILIO_FROM_NUMBER": OUR_NUMBER,
            "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens: sends fail
            "TWILIO_TIMEOUT_SECONDS": "2",
        }
        for name in ("TELEGRAM_BOT_TOKEN", "TWILIO_MESSAGING_SERVICE_SID"):
            env.pop(name, None)
        with serve(env, port, log) as first, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/healthz").json()["channels"]["sms"] == "on"
            assert (
                post_signed(http, fake.auth_token, SMS_PATH, inbound_form(RESIDENT, "Bonjour")).status_code
                == 200
            )
            wait_until(lambda: outbox(db) == [("pending", 1)])  # written, tried, not delivered
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert fake.attempts == []

        env["TWILIO_API_BASE_URL"] = fake.base_url
        with serve(env, port, log), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            [question] = fake.wait_for(1, timeout=30)  # the reply written before the kill
            assert question["body"].startswith("Bonjour ! Choisissez votre langue")
            expected = 1
            for text, replies in [("1", 2), ("oui", 1), ("Amina", 1), ("93200", 1)]:
                form = inbound_form(RESIDENT, text)
                assert post_signed(http, fake.auth_token, SMS_PATH, form).status_code == 200
                expected += replies
                fake.wait_for(expected, timeout=30)
            for text in ("1", "2", "1", "3"):
                form = inbound_form(RESIDENT, text)
                assert post_signed(http, fake.auth_token, SMS_PATH, form).status_code == 200
                expected += 1
                fake.wait_for(expected, timeout=30)
            wait_until(lambda: {status for status, _ in outbox(db)} == {"sent"})
        bodies = [m["body"] for m in fake.messages]
        assert len(bodies) == len(outbox(db)) == 10  # each reply exactly once, the first included
        assert bodies[-1].endswith(" Effacer mes données") and "Merci Amina" in bodies[-1]
        assert [attempts for _, attempts in outbox(db)] == [2] + [1] * 9
