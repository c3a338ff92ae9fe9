"""What every channel shares: the one inbound shape and the outbound message shape."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InboundMessage:
    """One thing a resident did on a channel, in the shape the orchestrator understands."""

    channel: str
    address: str
    external_id: str
    text: str = ""
    choice: str | None = None
    kind: str = "message"  # message, unsupported, opt_out
    lang: str | None = None  # a language already chosen elsewhere, for a new conversation


@dataclass(frozen=True)
class OutboundMessage:
    """A reply as stored in the outbox, before a channel renders it."""

    text: str
    choices: list[dict[str, str]] = field(default_factory=list)
    question: str | None = None
    lang: str = "fr"
