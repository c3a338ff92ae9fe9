"""The engine's vocabulary: conversation state, inbound events and outbound intents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field


class State(BaseModel):
    """Everything the engine remembers about one conversation; stored as JSON."""

    flow: str | None = None
    step: str | None = None
    lang: str = "fr"
    lang_chosen: bool = False
    answers: dict[str, Any] = Field(default_factory=dict)
    misunderstood: int = 0
    shown: list[dict[str, str]] = Field(default_factory=list)  # dynamic choices as last shown
    back: list[str] = Field(default_factory=list)
    resume: list[str] = Field(default_factory=list)
    consented: bool = False
    onboarded: bool = False
    opted_out: bool = False
    handoff: bool = False  # with a counsellor (waiting or assigned): the assistant stays silent

    @property
    def at(self) -> str | None:
        """The current position as 'flow.step'."""
        return f"{self.flow}.{self.step}" if self.flow and self.step else None


# Inbound events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A resident wrote something, or tapped a button ('flow.step:value' in choice)."""

    text: str
    choice: str | None = None


@dataclass(frozen=True)
class Unsupported:
    """A resident sent something that is not text: a photo, a sticker, a voice note..."""

    what: str


@dataclass(frozen=True)
class ChannelOptOut:
    """The channel says the resident can no longer be reached (Twilio 21610, Telegram block)."""

    reason: str


@dataclass(frozen=True)
class TimerFired:
    """A timer row came due (a reminder, a no-show follow-up...): the flow named for its kind runs."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CounsellorJoined:
    """A counsellor claimed the conversation: the assistant falls silent until it is handed back."""


@dataclass(frozen=True)
class CounsellorReply:
    """A counsellor wrote to the resident from the inbox; it goes out on the resident's channel."""

    text: str


@dataclass(frozen=True)
class HandBack:
    """The counsellor is done: back to the assistant (announced with a short message, or quietly)."""

    announce: bool = True


Event = Message | Unsupported | ChannelOptOut | TimerFired | CounsellorJoined | CounsellorReply | HandBack


# Outbound intents ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One answer a resident can pick: a value the flow routes on, and its translated label."""

    value: str
    label: str


@dataclass(frozen=True)
class Reply:
    """A message to the resident, already in their language; choices are rendered per channel."""

    text: str
    choices: tuple[Choice, ...] = ()
    question: str | None = None
    kind: str = "reply"


@dataclass(frozen=True)
class SaveProfile:
    """Store one answer on the resident's profile (only ever emitted after consent)."""

    name: str
    value: Any


@dataclass(frozen=True)
class RecordConsent:
    """The resident agreed to, or refused, the storage of their data."""

    given: bool


@dataclass(frozen=True)
class OptOut:
    """Stop sending anything to this resident."""

    source: str


@dataclass(frozen=True)
class OptIn:
    """The resident may receive messages again."""


@dataclass(frozen=True)
class EraseResident:
    """Erase the resident's personal data and messages, keeping anonymous counts."""


@dataclass(frozen=True)
class RequestHandoff:
    """The resident should be put in touch with a counsellor."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """The engine refused a counsellor's action (e.g. a reply to a resident who opted out)."""

    reason: str


Intent = Reply | SaveProfile | RecordConsent | OptOut | OptIn | EraseResident | RequestHandoff | Refused


@dataclass
class Outcome:
    """What the engine decided: the new state and the intents to carry out, in order."""

    state: State
    intents: list[Intent] = field(default_factory=list)

    @property
    def replies(self) -> list[Reply]:
        """Only the messages to the resident."""
        return [i for i in self.intents if isinstance(i, Reply)]


@dataclass
class HookContext:
    """What a flow hook may read and do: the state, the answer, the time, and intents to emit."""

    state: State
    answer: Any
    now: Any
    intents: list[Intent] = field(default_factory=list)
    facts: Any = None  # read-only data the orchestrator looked up for this turn (open slots...)

    def emit(self, intent: Intent) -> None:
        """Ask the orchestrator to carry out an intent after this turn."""
        self.intents.append(intent)
