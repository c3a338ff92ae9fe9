"""Replays golden transcripts: inbound lines through the pure engine, replies rendered per channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.channels.base import OutboundMessage
from bot.channels.sms import render_sms
from bot.channels.telegram_render import render_telegram
from bot.engine.engine import Engine
from bot.engine.types import ChannelOptOut, Event, Message, Reply, State, TimerFired, Unsupported
from tests.engine.booking_world import BookingWorld, later

START = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@dataclass
class Transcript:
    """A transcript file: its header, its inbound lines, and the text it holds now."""

    path: Path
    channel: str
    inputs: list[str]
    text: str
    facts: str | None = None  # "booking": replay with the in-memory booking world


def read(path: Path) -> Transcript:
    """Parse a transcript; '#' lines are the header, '> ' lines are what the resident sends."""
    text = path.read_text(encoding="utf-8")
    channel = "sms"
    facts = None
    inputs = []
    for line in text.splitlines():
        if line.startswith("# channel:"):
            channel = line.split(":", 1)[1].strip()
        elif line.startswith("# facts:"):
            facts = line.split(":", 1)[1].strip()
        elif line.startswith(">"):
            inputs.append(line[2:] if line.startswith("> ") else "")
    return Transcript(path, channel, inputs, text, facts)


def _event(line: str, last: Reply | None, world: BookingWorld | None = None) -> Event:
    """An input line as an event.

    '[tap N]' presses a button of the latest keyboard, '[photo]' sends a non-text update,
    '[timer KIND]' fires a timer about the latest booking (with the booking world), or a pathway
    timer ('[timer checkin]', '[timer step_message training]') without it.
    """
    if line.startswith("[tap ") and last is not None:
        n = int(line[5:-1])
        choice = last.choices[n - 1]
        return Message(text=choice.label, choice=f"{last.question}:{choice.value}")
    if line == "[opt-out]":
        return ChannelOptOut("test")
    if line.startswith("[timer ") and world is not None:
        kind = line[7:-1]
        return TimerFired(kind, world.payload(kind))
    if line.startswith("[timer ") and line.endswith("]"):  # a pathway timer: check-in, nudge, step message
        kind, _, step = line[7:-1].partition(" ")
        return TimerFired(kind, {"key": f"checkin:1:{step or 'job'}", "step": step or "job"})
    if line.startswith("[") and line.endswith("]") and line[1:-1].isalpha():
        return Unsupported(line[1:-1])
    return Message(text=_unescape(line))


def _unescape(line: str) -> str:
    """Inputs may spell out what a file cannot hold: \\0, \\x.., \\u...., and *N for repeats."""
    if "*" in line and line.rsplit("*", 1)[1].isdigit():
        body, count = line.rsplit("*", 1)
        line = body * int(count)
    return line.encode("latin-1", "backslashreplace").decode("unicode_escape") if "\\" in line else line


def render(reply: Reply, channel: str, lang: str) -> list[str]:
    """A reply as the resident sees it on the channel, as transcript lines."""
    message = OutboundMessage(
        reply.text, [{"value": c.value, "label": c.label} for c in reply.choices], reply.question, lang
    )
    lines: list[str] = []
    if channel == "telegram":
        for part in render_telegram(message):
            lines += part.text.splitlines()
            if part.buttons:
                lines.append(" ".join(f"[{label}]" for label, _ in part.buttons))
    else:
        for body in render_sms(message):
            lines += body.splitlines()
    return lines


def replay(engine: Engine, transcript: Transcript) -> str:
    """The transcript as the engine produces it today."""
    header = [
        ln for ln in transcript.text.splitlines() if ln.startswith("#") and not ln.startswith("# final")
    ]
    out = list(header)
    state = State()
    last: Reply | None = None
    now = START
    world = BookingWorld.demo() if transcript.facts == "booking" else None
    for line in transcript.inputs:
        out.append(f"> {line}" if line else ">")
        if line.startswith("[wait ") and line.endswith("]"):
            now = later(now, line[6:-1])
            out.append("  (no reply)")
            continue
        outcome = engine.handle(state, _event(line, last, world), now, world.facts(now) if world else None)
        if world is not None:
            world.apply(outcome.intents)
        state = outcome.state
        now += timedelta(minutes=1)
        for i, reply in enumerate(outcome.replies):
            if i:
                out.append("<")
            out += [f"< {text}" if text else "<" for text in render(reply, transcript.channel, state.lang)]
            if reply.choices:
                last = reply  # the latest keyboard on screen: old ones stay tappable too
        if not outcome.replies:
            out.append("  (no reply)")
    out.append(f"# final step: {state.at or '-'}, opted out: {state.opted_out}, consented: {state.consented}")
    return "\n".join(out) + "\n"
