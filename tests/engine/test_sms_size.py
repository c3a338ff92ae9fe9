"""Whatever turn a French resident is in, asking for help never produces an SMS over 2 segments."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.engine.engine import Engine
from bot.engine.types import Message, State


def test_help_at_every_question_fits_two_segments(conversation: Engine) -> None:
    checked = 0
    for name, flow in conversation.flows.flows.items():
        for step_id, step in flow.steps.items():
            if not step.ask or step.options_from or step.text_from:
                continue  # dynamic questions need facts; their texts are checked by the flow walks
            state = State(
                flow=name,
                step=step_id,
                lang="fr",
                lang_chosen=True,
                consented=True,
                onboarded=True,
                answers={"first_name": "Amina"},
            )
            outcome = conversation.handle(state, Message("AIDE"), datetime(2026, 12, 1, 9, tzinfo=UTC))
            for reply in outcome.replies:
                message = OutboundMessage(
                    reply.text, [{"value": c.value, "label": c.label} for c in reply.choices]
                )
                for body in render_sms(message):
                    assert segment_count(body) <= 2, f"{name}.{step_id}: {body!r}"
            checked += 1
    assert checked > 20
