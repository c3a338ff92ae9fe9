"""SMS over Twilio: the signed webhooks (inbound messages, delivery status) and the REST sender."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import requests
from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.rest import Client

from bot.channels.base import InboundMessage
from bot.channels.sms import render_sms
from bot.channels.twilio_status import record_status
from bot.orchestrator import pseudonym
from bot.outbox import OutboxItem, SendResult
from bot.settings import Settings

log = logging.getLogger(__name__)
SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
UNSUBSCRIBED = 21610  # the recipient texted STOP to our number: Twilio refuses to send to them
MAX_FORM_BYTES = 64 * 1024
_http_log = logging.getLogger(__name__ + ".http")  # the client logs every request at INFO: too chatty
_http_log.setLevel(logging.WARNING)

router = APIRouter()


# Webhooks ---------------------------------------------------------------------------------


def public_url(settings: Settings, request: Request) -> str:
    """The URL as Twilio called it: PUBLIC_BASE_URL + path + query, whatever a proxy rewrote."""
    url = settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


async def signed_form(request: Request) -> FormData:
    """The posted form, if Twilio signed it for our public URL; 403 when not, 400 when unreadable."""
    settings: Settings = request.app.state.settings
    signature = request.headers.get(SIGNATURE_HEADER)
    if not settings.sms_enabled or not signature:
        raise HTTPException(403)
    length = request.headers.get("content-length") or "0"
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise HTTPException(413 if length.isdigit() else 400)
    try:
        form = await request.form()
    except Exception as exc:  # a malformed multipart body, too many fields...: refuse, never a 500
        log.info("unreadable Twilio webhook refused: %s", type(exc).__name__)
        raise HTTPException(400) from None
    if any(not isinstance(value, str) for _, value in form.multi_items()):
        raise HTTPException(403)  # Twilio posts plain form fields, never files
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator = RequestValidator(settings.twilio_auth_token or "")
    if not validator.validate(public_url(settings, request), form, signature, algorithm):
        log.warning("Twilio webhook with a bad signature refused")
        raise HTTPException(403)
    return form


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post(SMS_PATH, include_in_schema=False)
async def inbound_sms(request: Request) -> Response:
    """Store a resident's SMS once (MessageSid is unique) and answer an empty TwiML at once."""
    form = await signed_form(request)
    sid, sender = _field(form, "MessageSid"), _field(form, "From")
    if not sid or not sender or len(sid) > 64 or len(sender) > 64:
        raise HTTPException(400)
    body = form.get("Body")
    text = body if isinstance(body, str) else ""
    media = _field(form, "NumMedia") not in ("", "0")
    kind = "unsupported" if media and not text.strip() else "message"
    message = InboundMessage(channel="sms", address=sender, external_id=sid, text=text, kind=kind)
    await _receive(request, message)
    return Response(EMPTY_TWIML, media_type="application/xml")


@router.post(STATUS_PATH, include_in_schema=False)
async def delivery_status(request: Request) -> Response:
    """Move a sent message's status forward; error 21610 tells the engine the resident opted out."""
    form = await signed_form(request)
    sid = _field(form, "MessageSid")
    status = (_field(form, "MessageStatus") or _field(form, "SmsStatus")).lower()
    error = _field(form, "ErrorCode")
    if not sid or len(sid) > 64:
        raise HTTPException(400)
    try:
        address = await run_in_threadpool(record_status, request.app.state.db, sid, status, error)
    except Exception:
        log.exception("could not record a Twilio status")
        raise HTTPException(503) from None
    address = address or _field(form, "To")
    if error == str(UNSUBSCRIBED) and address:
        opt_out = InboundMessage(
            channel="sms", address=address, external_id=f"status-{sid}-{UNSUBSCRIBED}", kind="opt_out"
        )
        await _receive(request, opt_out)
    return Response(status_code=204)


async def _receive(request: Request, message: InboundMessage) -> None:
    """Store the event once (a repeat is ignored) and wake the work loop; 503 if the database fails."""
    try:
        fresh = await run_in_threadpool(request.app.state.orchestrator.receive, message)
    except Exception:
        log.exception("could not store a Twilio event")
        raise HTTPException(503) from None
    if fresh is not None:
        request.app.state.runner.kick()


# Sending ----------------------------------------------------------------------------------


class TwilioSender:
    """Delivers outbox items as SMS through Twilio's REST API, with the real client in a thread.

    A message longer than 1,600 characters goes as several SMS; the outbox remembers how many
    parts Twilio accepted (parts_sent), so a retry, even after a restart, sends only the rest.

    A read timeout is ambiguous: the request reached Twilio, which most likely accepted it, and
    the Messages API has no idempotency key. By default such a part counts as handed over (no
    duplicate SMS, at the small risk of one lost); resend_unconfirmed=True resends it instead.
    """

    def __init__(
        self,
        client: Client,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        resend_unconfirmed: bool = False,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("a From number or a Messaging Service SID is needed")
        self.client = client
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.status_callback = status_callback
        self.resend_unconfirmed = resend_unconfirmed

    async def send(self, item: OutboxItem) -> SendResult:
        """Send the parts not yet accepted; map Twilio's answer to sent, retry, unreachable or failed."""
        bodies = render_sms(item.message)
        done = min(item.parts_sent, len(bodies))
        sid: str | None = None
        unconfirmed: str | None = None
        for body in bodies[done:]:
            try:
                sid = await asyncio.to_thread(self._create, item.address, body)
            except TwilioRestException as exc:
                return _refused(item, exc, done)
            except requests.exceptions.ReadTimeout as exc:
                if self.resend_unconfirmed:
                    return SendResult(False, retry=True, error=_describe(exc), parts_sent=done)
                log.warning("outbox %s: Twilio did not confirm part %s; not resending it", item.id, done + 1)
                unconfirmed = f"unconfirmed: {_describe(exc)}"
            except requests.exceptions.RequestException as exc:  # refused, reset, connect timeout
                return SendResult(False, retry=True, error=_describe(exc), parts_sent=done)
            done += 1
        return SendResult(True, provider_id=sid, error=unconfirmed, parts_sent=done)

    def _create(self, to: str, body: str) -> str:
        """One Messages API call; returns the new message's SID."""
        params: dict[str, Any] = {"to": to, "body": body}
        if self.from_number:
            params["from_"] = self.from_number
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        if self.status_callback:
            params["status_callback"] = self.status_callback
        return str(self.client.messages.create(**params).sid)


def _refused(item: OutboxItem, exc: TwilioRestException, done: int) -> SendResult:
    """Twilio answered with an error: busy or broken (retry), unsubscribed, or a permanent refusal."""
    error = _describe(exc)
    if exc.code == UNSUBSCRIBED:
        log.info("outbox %s: %s unsubscribed at Twilio", item.id, pseudonym(item.address))
        return SendResult(False, unreachable=True, error=error, parts_sent=done)
    if exc.status == 429 or exc.status >= 500:
        return SendResult(False, retry=True, error=error, parts_sent=done)
    log.error("outbox %s: Twilio refused the message: %s", item.id, error)
    return SendResult(False, error=error, parts_sent=done)


def _describe(exc: Exception) -> str:
    """A short, number-free account of a failure for the outbox row."""
    if isinstance(exc, TwilioRestException):
        return f"twilio {exc.status} error {exc.code}: {exc.msg}"[:200]
    return type(exc).__name__


def twilio_client(settings: Settings) -> Client:
    """The real client, with a timeout, talking to TWILIO_API_BASE_URL (a fake one in tests)."""
    http = TwilioHttpClient(timeout=settings.twilio_timeout_seconds, logger=_http_log)
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
    client.edge = client.region = None  # TWILIO_EDGE / TWILIO_REGION would rewrite the host
    client.api.base_url = settings.twilio_api_base_url.rstrip("/")
    return client


def build_twilio_sender(settings: Settings) -> TwilioSender | None:
    """The SMS sender from the settings, or None when SMS is off."""
    if not settings.sms_enabled:
        return None
    return TwilioSender(
        twilio_client(settings),
        from_number=settings.twilio_from_number,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        status_callback=settings.public_base_url.rstrip("/") + STATUS_PATH,
    )
