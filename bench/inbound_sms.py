"""Benchmark: signed inbound SMS into a running `batissons serve`, against a bare signature check.

Run from the repository root with `python -m bench.inbound_sms` (or `python bench/inbound_sms.py`).
It starts a fake Twilio and a fake Telegram on loopback, `batissons serve` on a temporary SQLite
file pointed at them, and a bare FastAPI endpoint that only checks the Twilio signature, then:

1. burst: M residents post K onboarding messages each, all at once (W connections);
2. conversation: M residents each wait for the replies before writing again, like people.

It reports inbound messages per second, and the p50/p99 from the webhook to the reply's outbox
row and to the fake Twilio receiving the reply. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
from fastapi import FastAPI, Request, Response  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = "https://batissons.example.org"  # what Twilio signs; the servers listen on plain http
SMS_PATH = "/webhooks/twilio/sms"
OUR_NUMBER = "+33757000000"
SCRIPT = ["Bonjour", "1", "oui", "Amina", "93200", "1", "2", "1", "3"]  # a full onboarding
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


# The bare endpoint, for comparison: the signature check and nothing else -------------------


def bare_app() -> FastAPI:
    """A FastAPI app that only validates X-Twilio-Signature (uvicorn factory)."""
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    base = os.environ["PUBLIC_BASE_URL"]
    app = FastAPI()

    @app.post(SMS_PATH)
    async def inbound(request: Request) -> Response:
        form = await request.form()
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(base + request.url.path, form, signature):
            return Response(status_code=403)
        return Response(TWIML, media_type="application/xml")

    return app


# Fakes and servers --------------------------------------------------------------------------


class TimedTwilio(FakeTwilio):
    """The fake Twilio, noting when each recipient's messages arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._arrived = threading.Condition()

    def _create_message(
        self, handler: Any, attempt: dict[str, Any], account: str, form: dict[str, str]
    ) -> None:
        at = time.time()
        super()._create_message(handler, attempt, account, form)
        with self._arrived:
            self.arrivals[form.get("To", "")].append(at)
            self._arrived.notify_all()

    def wait_count(self, number: str, n: int, timeout: float) -> None:
        """Wait until `number` has received `n` messages."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.arrivals[number]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{number}: {len(self.arrivals[number])} of {n} replies")
                self._arrived.wait(left)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(command: list[str], env: dict[str, str], url: str, log: Path) -> Iterator[None]:
    """Run a server until it answers /healthz (or any answer on the bare one), then stop it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited; see {log}")
                try:
                    httpx.get(url + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{url} did not start; see {log}") from None
                    time.sleep(0.1)
            yield
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def serve_command(port: int) -> list[str]:
    """`batissons serve`, the installed command when there is one."""
    installed = shutil.which("batissons", path=str(Path(sys.executable).parent))
    head = [installed] if installed else [sys.executable, "-m", "bot.cli"]
    return [*head, "serve", "--host", "127.0.0.1", "--port", str(port)]


# Load ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one phase measured."""

    posted: dict[tuple[str, int], float] = field(default_factory=dict)  # (number, k) -> sent at
    answered: list[float] = field(default_factory=list)  # webhook answer times, seconds
    started: float = 0.0
    accepted: float = 0.0  # when the last webhook was answered
    settled: float = 0.0  # when the last reply reached the fake


class Poster:
    """Signs and posts inbound SMS, one keep-alive connection per worker thread."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.validator = RequestValidator(token)
        self.local = threading.local()

    def post(self, number: str, text: str, run: Run, k: int) -> None:
        if not hasattr(self.local, "http"):
            self.local.http = httpx.Client(base_url=self.url, timeout=30)
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": "AC" + "0" * 32,
            "From": number,
            "To": OUR_NUMBER,
            "Body": text,
            "NumMedia": "0",
        }
        signature = self.validator.compute_signature(PUBLIC + SMS_PATH, form)
        start = time.time()
        run.posted[(number, k)] = start
        response = self.local.http.post(SMS_PATH, data=form, headers={"X-Twilio-Signature": signature})
        run.answered.append(time.time() - start)
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}")


def replies_per_message(texts: list[str]) -> list[int]:
    """How many SMS the assistant answers to each message of the script (the pure engine, dry)."""
    from bot.assistant import conversation_engine
    from bot.engine.types import Message, State

    engine, state, counts = conversation_engine(), State(), []
    for text in texts:
        outcome = engine.handle(state, Message(text), datetime.now(UTC))
        state = outcome.state
        counts.append(len(outcome.replies))
    return counts


def burst(poster: Poster, fake: TimedTwilio, numbers: list[str], texts: list[str], workers: int) -> Run:
    """Every resident posts all their messages at once, in order, without waiting for replies."""
    run, expected = Run(), sum(replies_per_message(texts))

    def resident(number: str) -> None:
        for k, text in enumerate(texts):
            poster.post(number, text, run, k)

    run.started = time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(resident, numbers))
    run.accepted = time.time()
    for number in numbers:
        fake.wait_count(number, expected, timeout=300)
    run.settled = max(fake.arrivals[n][-1] for n in numbers)
    return run


def conversation(
    poster: Poster, fake: TimedTwilio, numbers: list[str], texts: list[str], workers: int
) -> Run:
    """Each resident waits for the replies to a message before writing the next one."""
    run, counts = Run(), replies_per_message(texts)

    def resident(number: str) -> None:
        seen = 0
        for k, text in enumerate(texts):
            poster.post(number, text, run, k)
            seen += counts[k]
            fake.wait_count(number, seen, timeout=120)

    run.started = time.time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(resident, numbers))
    run.accepted = run.settled = max(fake.arrivals[n][-1] for n in numbers)
    return run


def latencies(run: Run, db: Path, fake: TimedTwilio, texts: list[str]) -> tuple[list[float], list[float]]:
    """Seconds from each webhook to its first reply's outbox row, and to the fake receiving it."""
    counts = replies_per_message(texts)
    first = [sum(counts[:k]) for k in range(len(texts))]
    rows: dict[str, list[float]] = defaultdict(list)
    with sqlite3.connect(db) as conn:
        for address, created in conn.execute("SELECT address, created_at FROM outbox ORDER BY id"):
            rows[address].append(datetime.fromisoformat(created).replace(tzinfo=UTC).timestamp())
    to_row, to_fake = [], []
    for (number, k), sent in run.posted.items():
        if counts[k]:
            to_row.append(rows[number][first[k]] - sent)
            to_fake.append(fake.arrivals[number][first[k]] - sent)
    return to_row, to_fake


def pct(values: list[float], p: int) -> float:
    """The p-th percentile, in milliseconds."""
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return quantiles(values, n=100, method="inclusive")[p - 1] * 1000


# Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100, help="residents in each phase (M)")
    parser.add_argument("--messages", type=int, default=5, help="messages per resident (K, at most 9)")
    parser.add_argument("--workers", type=int, default=32, help="concurrent connections (W)")
    args = parser.parse_args(argv)
    texts = SCRIPT[: max(1, min(args.messages, len(SCRIPT)))]
    tmp = Path(tempfile.mkdtemp(prefix="batissons-bench-"))
    db = tmp / "bench.db"
    with TimedTwilio() as twilio, FakeTelegram() as telegram:
        port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{db}",
            "PUBLIC_BASE_URL": PUBLIC,
            "SECRET_KEY": "bench",
            "LOG_LEVEL": "WARNING",
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM_NUMBER": OUR_NUMBER,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "TELEGRAM_BOT_TOKEN": "123456789:BENCH-token",
            "TELEGRAM_WEBHOOK_SECRET": "bench-secret",
            "TELEGRAM_API_BASE_URL": telegram.base_url,
        }
        serve_url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        results: list[tuple[str, int, float, Run, tuple[list[float], list[float]] | None]] = []
        with process(serve_command(port), env, serve_url, tmp / "serve.log"):
            poster = Poster(serve_url, twilio.auth_token)
            numbers = [f"+3361{n:07d}" for n in range(args.residents)]
            run = burst(poster, twilio, numbers, texts, args.workers)
            results.append(("serve, burst", len(run.posted), run.accepted - run.started, run, None))
            results[-1] = (*results[-1][:4], latencies(run, db, twilio, texts))
            numbers = [f"+3362{n:07d}" for n in range(args.residents)]
            run = conversation(poster, twilio, numbers, texts, min(args.workers, args.residents))
            results.append(("serve, conversations", len(run.posted), run.accepted - run.started, run, None))
            results[-1] = (*results[-1][:4], latencies(run, db, twilio, texts))
        bare_command = [sys.executable, "-m", "uvicorn", "bench.inbound_sms:bare_app", "--factory"]
        bare_command += ["--host", "127.0.0.1", "--port", str(bare_port), "--log-level", "info"]
        with process(bare_command, env, bare_url, tmp / "bare.log"):
            poster = Poster(bare_url, twilio.auth_token)
            numbers = [f"+3363{n:07d}" for n in range(args.residents)]
            run = Run(started=time.time())
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda n: [poster.post(n, t, run, k) for k, t in enumerate(texts)], numbers))
            run.accepted = time.time()
            results.append(("bare signature check", len(run.posted), run.accepted - run.started, run, None))
    print_table(results, args, texts)
    shutil.rmtree(tmp, ignore_errors=True)


def print_table(results: list[Any], args: argparse.Namespace, texts: list[str]) -> None:
    """The figures, as a small Markdown table."""
    print(
        f"\n{args.residents} residents x {len(texts)} messages per phase, {args.workers} connections, "
        f"SQLite, loopback, {os.cpu_count()} CPUs\n"
    )
    head = "| endpoint, load | msgs | inbound msgs/s | webhook p50 / p99 ms | to outbox row p50 / p99 ms"
    print(head + " | to fake Twilio p50 / p99 ms | all replies out, msgs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    fmt: Callable[[list[float]], str] = lambda v: f"{pct(v, 50):.1f} / {pct(v, 99):.1f}"  # noqa: E731
    rates = {}
    for name, count, seconds, run, lat in results:
        rates[name] = count / seconds
        row, fake = (fmt(lat[0]), fmt(lat[1])) if lat else ("-", "-")
        settled = f"{count / (run.settled - run.started):.0f}" if lat else "-"
        print(f"| {name} | {count} | {rates[name]:.0f} | {fmt(run.answered)} | {row} | {fake} | {settled} |")
    bare, burst_rate = rates.get("bare signature check"), rates.get("serve, burst")
    if bare and burst_rate:
        print(f"\nThe bare endpoint accepts {bare / burst_rate:.1f}x as many webhooks per second as serve.")


if __name__ == "__main__":
    main()
