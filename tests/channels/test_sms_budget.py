"""The SMS budget: every French message of every flow, rendered as sent, fits in 2 segments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from statistics import mean
from typing import Any

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.engine.engine import Engine
from bot.engine.flow import Step
from bot.engine.types import Message, State

LANG = "fr"
BUDGET, HARD_LIMIT = 2, 4
CHOICE_RETRIES = ("retry_not_understood", "retry_out_of_range")
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


class _Fields(dict[str, Any]):
    """Sample values for {fields}: a first name, a count; anything else empty, as the engine does."""

    def __missing__(self, key: str) -> str:
        return ""


def _text(engine: Engine, msgid: str, n: int = 0) -> str:
    return engine.translate(msgid, LANG).format_map(_Fields(first_name="Amina", n=n))


def _choices(engine: Engine, step: Step) -> list[dict[str, str]]:
    """A step's answers as the engine labels them in French."""
    if not step.ask:
        return []
    if step.ask.type == "yesno":
        return [{"value": v, "label": _text(engine, engine.flows.text(v))} for v in ("yes", "no")]
    return [
        {"value": o.value, "label": o.label if o.raw else _text(engine, o.label)} for o in step.ask.options
    ]


def flow_messages(engine: Engine) -> Iterator[tuple[str, OutboundMessage]]:
    """Each step's texts (the question with its choices), its retries, and the system texts."""
    system = engine.flows.flows["system"].texts
    for flow in engine.flows.flows.values():
        for step_id, step in flow.steps.items():
            where, choices = f"{flow.flow}.{step_id}", _choices(engine, step)
            asked = step.say[-1:] if step.ask else []
            for text in step.say:
                with_choices = choices if text in asked else []
                yield where, OutboundMessage(_text(engine, text), with_choices, lang=LANG)
            if step.retry:
                yield f"{where} retry", OutboundMessage(_text(engine, step.retry, len(choices)), choices)
            if step.ask and step.ask.type in ("choice", "yesno"):
                for name in CHOICE_RETRIES:
                    text = _text(engine, system[name], len(choices))
                    yield f"{where} {name}", OutboundMessage(text, choices, lang=LANG)
    for name, text in system.items():
        yield f"system.{name}", OutboundMessage(_text(engine, text), lang=LANG)


SCRIPTS = [
    # onboarding, then everything the menu and the keywords lead to
    ["Bonjour", "1", "oui", "Amina", "93200", "1", "2", "1", "3", "1", "J'ai une question", "MENU"]
    + ["AIDE", "LANGUE", "1", "SUPPRIMER", "non", "RETOUR", "blabla", "blabla", "blabla"]
    + ["STOP", "START", "SUPPRIMER", "oui"],
    # refusing consent, changing one's mind, a postcode outside the 93, typos
    ["Salut", "français", "non", "non", "oui", "Amina 2", "Amina", "750", "75011", "oui", "nn", "2"],
]


def conversation_messages(engine: Engine) -> Iterator[tuple[str, OutboundMessage]]:
    """Replies of scripted conversations, as the engine merges and sends them."""
    for script in SCRIPTS:
        state = State()
        for text in script:
            outcome = engine.handle(state, Message(text), NOW)
            state = outcome.state
            for reply in outcome.replies:
                choices = [{"value": c.value, "label": c.label} for c in reply.choices]
                yield f"after {text!r}", OutboundMessage(reply.text, choices, reply.question, state.lang)


def test_every_french_message_fits_the_sms_budget(conversation: Engine, report: list[str]) -> None:
    measured: dict[str, list[int]] = {"flow texts": [], "conversation replies": []}
    over: list[str] = []
    sources = {"flow texts": flow_messages, "conversation replies": conversation_messages}
    for kind, source in sources.items():
        for where, message in source(conversation):
            for body in render_sms(message):
                segments = segment_count(body)
                measured[kind].append(segments)
                if segments > BUDGET:
                    over.append(f"{where}: {segments} segments: {body!r}")
                assert segments <= HARD_LIMIT, (where, body)
    assert not over, "\n".join(over)
    assert len(measured["flow texts"]) > 50 and len(measured["conversation replies"]) > 30
    for kind, counts in measured.items():
        report.append(
            f"SMS budget (fr, {kind}): {len(counts)} messages, mean {mean(counts):.2f} segments "
            f"per message, max {max(counts)}, {sum(c == 1 for c in counts)} in a single segment"
        )
