"""Fake Telegram Bot API on loopback, for tests that drive the real python-telegram-bot."""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
import socket
import struct
import threading
import time
from email.message import Message
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

Fault = tuple[Any, ...]

_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)/?$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_INTEGER = re.compile(r"^-?\d+$")
# Parameters PTB sends JSON-encoded inside form or multipart bodies.
_JSON_PARAMS = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "reply_markup",
        "reply_parameters",
        "scope",
    }
)
_INT_PARAMS = frozenset(
    {
        "cache_time",
        "chat_id",
        "from_chat_id",
        "limit",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "user_id",
    }
)
_BOOL_PREFIXES = ("allow_", "can_", "disable_", "drop_", "has_", "is_", "protect_", "show_")
_WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})


class Call(NamedTuple):
    """One Bot API request as the fake received it."""

    method: str
    params: dict[str, Any]


class UploadedFile(NamedTuple):
    """A file part of a multipart request."""

    filename: str | None
    content: bytes
    content_type: str | None


class _Described(NamedTuple):
    """A result Telegram answers together with a ``description``."""

    result: Any
    description: str


class TelegramApiError(Exception):
    """Raised inside the fake to answer with a Bot API error."""

    def __init__(self, status: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeTelegram


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # idle keep-alive connections give up eventually

    def setup(self) -> None:
        super().setup()
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


def _decode_value(name: str, value: str) -> Any:
    if name in _JSON_PARAMS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if name in _INT_PARAMS and _INTEGER.match(value):
        return int(value)
    if name.startswith(_BOOL_PREFIXES) and value in ("true", "false"):
        return value == "true"
    return value


def parse_params(content_type: str, body: bytes, query: str = "") -> dict[str, Any]:
    """Decode a Bot API request body (form, multipart or JSON) into plain Python values."""
    params: dict[str, Any] = {}
    for name, values in parse_qs(query, keep_blank_values=True).items():
        params[name] = _decode_value(name, values[0])
    mime = content_type.split(";")[0].strip().lower()
    if mime == "application/json" and body:
        params.update(json.loads(body))
    elif mime == "application/x-www-form-urlencoded":
        for name, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
            params[name] = _decode_value(name, values[0])
    elif mime == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message: Message = BytesParser().parsebytes(head + body)
        for part in message.get_payload():
            assert isinstance(part, Message)
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is not None or part.get_content_type() != "text/plain":
                params[name] = UploadedFile(filename, content, part.get_content_type())
            else:
                charset = part.get_content_charset() or "utf-8"
                params[name] = _decode_value(name, content.decode(charset))
    return params


class FakeTelegram:
    """A loopback HTTP server that speaks enough of the Telegram Bot API for our bot.

    Use ``telegram.Bot(token, base_url=fake.base_url)``.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        bot_username: str = "batissons_test_bot",
        host: str = "127.0.0.1",
        long_poll_cap: float = 0.5,
        strict_webhook: bool = True,
    ) -> None:
        """Create the fake.

        ``token``: when given, requests with another token get 401 (PTB raises InvalidToken).
        ``long_poll_cap``: the longest a getUpdates call waits, whatever its ``timeout``.
        ``strict_webhook``: setWebhook rejects non-HTTPS URLs and ports other than
        80, 88, 443 and 8443, as Telegram does.
        """
        self.token = token
        self.host = host
        self.long_poll_cap = long_poll_cap
        self.strict_webhook = strict_webhook
        bot_id = int(token.split(":")[0]) if token and token.split(":")[0].isdigit() else 7000000001
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Bâtissons",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.calls: list[Call] = []
        self.sent: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.blocked: set[int | str] = set()
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id = 1
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def base_url(self) -> str:
        """The PTB ``base_url``: ``http://127.0.0.1:PORT/bot`` (PTB appends the token)."""
        return f"{self.root_url}/bot"

    def start(self) -> FakeTelegram:
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
            name="FakeTelegram",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hung and long-polling requests and drop open connections."""
        if self._server is None:
            return
        self._stopping.set()
        with self._lock:
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeTelegram:
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
        """Queue faults, consumed one per incoming request (any method), in order.

        ``("status", 500)``, ``("retry_after", seconds)`` (429), ``("blocked",)`` (403),
        ``("hang", seconds)``, ``("reset",)`` (TCP reset, no answer).
        A hung request is processed normally after the delay, unless the fake stops first.
        """
        for fault in faults:
            if not fault or fault[0] not in {"status", "retry_after", "blocked", "hang", "reset"}:
                raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._faults.extend(faults)

    def block(self, chat_id: int | str) -> None:
        """Make every later send or edit to ``chat_id`` fail with 403, as a blocked bot."""
        with self._lock:
            self.blocked.add(chat_id)

    def unblock(self, chat_id: int | str) -> None:
        """Undo :meth:`block`."""
        with self._lock:
            self.blocked.discard(chat_id)

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an inbound update for getUpdates; an ``update_id`` is added if missing."""
        with self._changed:
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
            self._updates.append(update)
            self._changed.notify_all()
            return update

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """The params of every call to ``method`` (case-insensitive)."""
        with self._lock:
            return [c.params for c in self.calls if c.method.lower() == method.lower()]

    def wait_for(self, n: int, timeout: float = 2.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were sent; return a copy of all of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.sent) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"FakeTelegram: {len(self.sent)} message(s) sent, expected {n}")
                self._changed.wait(remaining)
            return [dict(m) for m in self.sent]

    def reset(self) -> None:
        """Forget calls, sent messages, queued updates, webhook, blocks and pending faults."""
        with self._lock:
            self.calls.clear()
            self.sent.clear()
            self.webhook.clear()
            self.blocked.clear()
            self._updates.clear()
            self._messages.clear()
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
        url = urlsplit(handler.path)
        match = _PATH.match(url.path)
        try:
            params = parse_params(handler.headers.get("Content-Type", ""), raw, url.query)
        except ValueError:
            self._reply(handler, 400, _error(400, "Bad Request: can't parse request body"))
            return
        method = match.group("method") if match else url.path
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            self.calls.append(Call(method, params))

        if fault is not None:
            kind = fault[0]
            if kind == "reset":
                _reset(handler)
                return
            if kind == "hang":
                if self._stopping.wait(float(fault[1])):
                    _reset(handler)
                    return
            elif kind == "status":
                self._reply_status(handler, int(fault[1]))
                return
            elif kind == "retry_after":
                seconds = int(fault[1])
                body = _error(429, f"Too Many Requests: retry after {seconds}")
                body["parameters"] = {"retry_after": seconds}
                self._reply(handler, 429, body, {"Retry-After": str(seconds)})
                return
            elif kind == "blocked":
                self._reply(handler, 403, _error(403, "Forbidden: bot was blocked by the user"))
                return

        if match is None:
            self._reply(handler, 404, _error(404, "Not Found"))
            return
        if self.token is not None and match.group("token") != self.token:
            self._reply(handler, 401, _error(401, "Unauthorized"))
            return
        action = getattr(self, "_api_" + method.lower(), None)
        if action is None:
            self._reply(handler, 404, _error(404, "Not Found"))
            return
        try:
            result = action(params)
        except TelegramApiError as exc:
            body = _error(exc.status, exc.description)
            if exc.parameters:
                body["parameters"] = exc.parameters
            self._reply(handler, exc.status, body)
            return
        reply: dict[str, Any] = {"ok": True, "result": result}
        if isinstance(result, _Described):
            reply.update(result=result.result, description=result.description)
        self._reply(handler, 200, reply)

    def _reply_status(self, handler: _Handler, status: int) -> None:
        if status in (502, 504):  # Telegram's front end answers these with an HTML page
            html = f"<html><body><h1>{status} Bad Gateway</h1></body></html>".encode()
            self._send(handler, status, html, "text/html")
            return
        descriptions = {500: "Internal Server Error", 503: "Service Unavailable"}
        self._reply(handler, status, _error(status, descriptions.get(status, "Error")))

    def _reply(
        self,
        handler: _Handler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(handler, status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send(
        self,
        handler: _Handler,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client gave up (timeout) or went away

    # Bot API methods -----------------------------------------------------------------

    def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise TelegramApiError(400, "Bad Request: chat_id is empty")
        with self._lock:
            if chat_id in self.blocked:
                raise TelegramApiError(403, "Forbidden: bot was blocked by the user")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            return {"id": -1001000000000, "title": chat_id[1:], "username": chat_id[1:], "type": "channel"}
        if isinstance(chat_id, int) and chat_id < 0:
            kind = "supergroup" if str(chat_id).startswith("-100") else "group"
            return {"id": chat_id, "title": "Groupe", "type": kind}
        return {"id": chat_id, "first_name": "Resident", "type": "private"}

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if markup is None:
            return
        if not isinstance(markup, dict):
            raise TelegramApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise TelegramApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise TelegramApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _store_message(
        self, chat: dict[str, Any], fields: dict[str, Any], record: dict[str, Any]
    ) -> dict[str, Any]:
        with self._changed:
            message_id = self._next_message_id
            self._next_message_id += 1
            message = {
                "message_id": message_id,
                "from": dict(self.bot_user),
                "chat": chat,
                "date": int(time.time()),
                **fields,
            }
            self._messages[(chat["id"], message_id)] = message
            record.update(message_id=message_id, chat_id=chat["id"], message=message)
            self.sent.append(record)
            self._changed.notify_all()
        return message

    def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        text = params.get("text", "")
        if not isinstance(text, str) or not text.strip():
            raise TelegramApiError(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            raise TelegramApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        self._check_markup(markup)
        fields: dict[str, Any] = {"text": text}
        if markup is not None and "inline_keyboard" in markup:
            fields["reply_markup"] = markup  # Telegram echoes only inline keyboards
        record = {
            "method": "sendMessage",
            "text": text,
            "reply_markup": markup,
            "parse_mode": params.get("parse_mode"),
            "params": params,
        }
        return self._store_message(chat, fields, record)

    def _api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        document = params.get("document")
        if isinstance(document, UploadedFile):
            filename, content = document.filename or "document", document.content
            mime_type = document.content_type
            if not mime_type or mime_type == "application/octet-stream":
                mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        elif isinstance(document, str) and document:
            filename, content, mime_type = None, b"", None  # a file_id or URL
        else:
            raise TelegramApiError(400, "Bad Request: there is no document in the request")
        markup = params.get("reply_markup")
        self._check_markup(markup)
        doc: dict[str, Any] = {
            "file_id": "BQAC" + secrets.token_urlsafe(24),
            "file_unique_id": "AgAD" + secrets.token_urlsafe(8),
            "file_size": len(content),
        }
        if filename is not None:
            doc["file_name"] = filename
        if mime_type is not None:
            doc["mime_type"] = mime_type
        fields: dict[str, Any] = {"document": doc}
        if params.get("caption"):
            fields["caption"] = params["caption"]
        if markup is not None and "inline_keyboard" in markup:
            fields["reply_markup"] = markup
        record = {
            "method": "sendDocument",
            "filename": filename,
            "content": content,
            "mime_type": mime_type,
            "caption": params.get("caption"),
            "reply_markup": markup,
            "params": params,
        }
        return self._store_message(chat, fields, record)

    def _edited(self, params: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat = self._chat(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int):
            raise TelegramApiError(400, "Bad Request: message identifier is not specified")
        with self._lock:
            message = self._messages.get((chat["id"], message_id))
            if message is None:  # a message this fake never sent: answer with a plausible one
                message = {
                    "message_id": message_id,
                    "from": dict(self.bot_user),
                    "chat": chat,
                    "date": int(time.time()),
                }
                self._messages[(chat["id"], message_id)] = message
            updated = {k: v for k, v in message.items() if k not in changes}
            updated.update({k: v for k, v in changes.items() if v is not None})
            if updated == message:
                raise TelegramApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            updated["edit_date"] = int(time.time())
            self._messages[(chat["id"], message_id)] = updated
            return dict(updated)

    def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        markup = params.get("reply_markup")
        self._check_markup(markup)
        if markup is not None and not markup.get("inline_keyboard"):
            markup = None
        return self._edited(params, {"reply_markup": markup})

    def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = params.get("text", "")
        if not isinstance(text, str) or not text.strip():
            raise TelegramApiError(400, "Bad Request: message text is empty")
        markup = params.get("reply_markup")
        self._check_markup(markup)
        return self._edited(params, {"text": text, "reply_markup": markup})

    def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise TelegramApiError(400, "Bad Request: QUERY_ID_INVALID")
        return True

    def _api_sendchataction(self, params: dict[str, Any]) -> bool:
        self._chat(params)
        return True

    def _api_setwebhook(self, params: dict[str, Any]) -> _Described:
        url = str(params.get("url", ""))
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            raise TelegramApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and self.strict_webhook:
            parts = urlsplit(url)
            if parts.scheme != "https":
                raise TelegramApiError(
                    400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
                )
            if (parts.port or 443) not in _WEBHOOK_PORTS:
                raise TelegramApiError(
                    400,
                    "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
                )
        with self._lock:
            self.webhook.clear()
            if url:
                self.webhook.update(
                    url=url,
                    secret_token=secret,
                    allowed_updates=params.get("allowed_updates"),
                    max_connections=params.get("max_connections", 40),
                )
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return _Described(True, "Webhook was set" if url else "Webhook was deleted")

    def _api_deletewebhook(self, params: dict[str, Any]) -> _Described:
        with self._lock:
            had = bool(self.webhook)
            self.webhook.clear()
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _api_getwebhookinfo(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = {
                "url": self.webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self.webhook:
                info["max_connections"] = self.webhook["max_connections"]
                info["ip_address"] = "127.0.0.1"
                if self.webhook.get("allowed_updates"):
                    info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        wait = min(float(params.get("timeout") or 0), self.long_poll_cap)
        deadline = time.monotonic() + wait
        with self._changed:
            if self.webhook:
                raise TelegramApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if offset > 0:  # confirms every update before the offset
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                pending = self._updates[offset:] if offset < 0 else list(self._updates)
                remaining = deadline - time.monotonic()
                if pending or remaining <= 0 or self._stopping.is_set():
                    return [dict(u) for u in pending[:limit]]
                self._changed.wait(remaining)


def _error(status: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": status, "description": description}
