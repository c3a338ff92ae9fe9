"""Fake Twilio REST API on loopback, for tests that drive the real twilio client."""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import socket
import struct
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

Fault = tuple[Any, ...]

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
_E164 = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")

# GSM 03.38 basic set (without the escape) and the extension table (two septets each).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

# Twilio error codes the fake knows how to word.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}


def sms_segments(body: str) -> tuple[int, str]:
    """Return (number of segments, "GSM-7" or "UCS-2") as Twilio would count them."""
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENSION for ch in body):
        septets = sum(2 if ch in _GSM7_EXTENSION else 1 for ch in body)
        return (1 if septets <= 160 else math.ceil(septets / 153)), "GSM-7"
    units = len(body.encode("utf-16-le")) // 2
    return (1 if units <= 70 else math.ceil(units / 67)), "UCS-2"


def twilio_error(status: int, code: int, message: str | None = None) -> dict[str, Any]:
    """Build a Twilio legacy error body, the format the Messages API answers with."""
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeTwilio


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # idle keep-alive connections give up eventually

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle holds the body until the
        # client's delayed ACK, adding ~40 ms to every answer (Twilio itself has no such delay).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.fake._handle(self)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.server.fake._handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Abort the connection with a TCP RST, without answering."""
    handler.close_connection = True
    try:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
    except OSError:
        pass


class FakeTwilio:
    """A loopback HTTP server that speaks the Twilio Messages API.

    Point the real client at it with ``client.api.base_url = fake.base_url``.
    """

    def __init__(
        self,
        account_sid: str = "AC" + "0" * 32,
        auth_token: str = "test-auth-token",
        host: str = "127.0.0.1",
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.messages: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.unsubscribed: set[str] = set()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The REST base, e.g. ``http://127.0.0.1:PORT`` (Twilio's ``https://api.twilio.com``)."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> FakeTwilio:
        """Bind a free port on loopback and serve in a daemon thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self.host, 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="FakeTwilio",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hung requests and drop open connections."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._changed.notify_all()
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # test controls -------------------------------------------------------------------

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults, consumed one per incoming request, in order.

        ``("status", 500)``, ``("status", 429)`` (error 20429), ``("hang", seconds)``,
        ``("error_code", 21610)`` (400 with that Twilio code), ``("reset",)`` (TCP reset).
        A hung request is processed normally after the delay, unless the fake stops first.
        """
        for fault in faults:
            if not fault or fault[0] not in {"status", "hang", "error_code", "reset"}:
                raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.extend(faults)

    def unsubscribe(self, number: str) -> None:
        """Make every later send to ``number`` fail with 21610, as after the recipient's STOP."""
        with self._lock:
            self.unsubscribed.add(number)

    def resubscribe(self, number: str) -> None:
        """Undo :meth:`unsubscribe`, as after the recipient's START."""
        with self._lock:
            self.unsubscribed.discard(number)

    def wait_for(self, n: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were accepted; return a copy of all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"FakeTwilio: {len(self.messages)} message(s) accepted, expected {n}")
                self._changed.wait(remaining)
            return [dict(m) for m in self.messages]

    def reset(self) -> None:
        """Forget messages, attempts, unsubscribed numbers and pending faults."""
        with self._lock:
            self.messages.clear()
            self.attempts.clear()
            self.unsubscribed.clear()
            self._faults.clear()

    # request handling ----------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, handler: _Handler) -> None:
        raw = _read_body(handler)
        path = urlsplit(handler.path).path
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            attempt: dict[str, Any] = {
                "method": handler.command,
                "path": path,
                "form": form,
                "fault": fault,
                "authorized": self._authorized(handler),
                "status": None,
            }
            self.attempts.append(attempt)

        if fault is not None:
            kind = fault[0]
            if kind == "reset":
                attempt["status"] = "reset"
                _reset(handler)
                return
            if kind == "hang":
                if self._stopping.wait(float(fault[1])):
                    attempt["status"] = "dropped"
                    _reset(handler)
                    return
            elif kind == "status":
                status = int(fault[1])
                code = 20003 if status == 401 else 20000 + status
                self._reply(handler, attempt, status, twilio_error(status, code))
                return
            elif kind == "error_code":
                code = int(fault[1])
                status = int(fault[2]) if len(fault) > 2 else 400
                self._reply(handler, attempt, status, twilio_error(status, code))
                return

        if not attempt["authorized"]:
            body = twilio_error(401, 20003)
            body["message"] = "Authenticate"
            self._reply(handler, attempt, 401, body, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return

        match = _MESSAGES_PATH.match(path)
        if match and handler.command == "POST":
            self._create_message(handler, attempt, match.group("account"), form)
            return
        match = _MESSAGE_PATH.match(path)
        if match and handler.command == "GET":
            with self._lock:
                found = next((m for m in self.messages if m["sid"] == match.group("sid")), None)
            if found is not None:
                self._reply(handler, attempt, 200, found["resource"])
                return
        message = f"The requested resource {path} was not found"
        self._reply(handler, attempt, 404, twilio_error(404, 20404, message))

    def _authorized(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    def _create_message(
        self, handler: _Handler, attempt: dict[str, Any], account: str, form: dict[str, str]
    ) -> None:
        if account != self.account_sid:
            self._reply(handler, attempt, 401, twilio_error(401, 20003))
            return
        to = form.get("To", "")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        error: tuple[int, str | None] | None = None
        if not to:
            error = (21604, None)
        elif not _E164.match(to):
            error = (21211, f"The 'To' number {to} is not a valid phone number.")
        elif from_ is None and service is None:
            error = (21603, None)
        elif not body and "MediaUrl" not in form and "ContentSid" not in form:
            error = (21602, None)
        elif len(body) > 1600:
            error = (21617, None)
        else:
            with self._lock:
                if to in self.unsubscribed:
                    error = (21610, None)
        if error is not None:
            self._reply(handler, attempt, 400, twilio_error(400, error[0], error[1]))
            return

        sid = "SM" + secrets.token_hex(16)
        segments, encoding = sms_segments(body)
        now = format_datetime(datetime.now(UTC))
        uri = f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"
        resource = {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # Twilio answers "accepted" when only a Messaging Service picks the sender.
            "status": "queued" if from_ else "accepted",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }
        record = {
            "sid": sid,
            "to": to,
            "from_": from_,
            "body": body,
            "status_callback": form.get("StatusCallback") or None,
            "messaging_service_sid": service,
            "num_segments": segments,
            "encoding": encoding,
            "status": resource["status"],
            "form": form,
            "resource": resource,
        }
        with self._changed:
            self.messages.append(record)
            self._changed.notify_all()
        self._reply(handler, attempt, 201, resource)

    def _reply(
        self,
        handler: _Handler,
        attempt: dict[str, Any],
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        attempt["status"] = status
        data = json.dumps(payload).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client gave up (timeout) or went away
