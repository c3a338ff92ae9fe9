"""Hooks of the check-in flow: they read the timer's payload and emit intents; never the database."""

from __future__ import annotations

from typing import Any

from rapidfuzz import fuzz

from bot.engine import understand
from bot.engine.types import HookContext
from bot.i18n import LANGUAGES, translate
from bot.pathway import CheckinAnswered, CheckinDetail, CheckinSent, pathway_data
from flows.hooks import hook

# The check-in question's options, as in flows/checkin.yaml, with words residents use for them.
ANSWERS: dict[str, tuple[str, ...]] = {
    "fine": ("Fine", "bien", "ca va", "ca va bien", "tout va bien", "good", "ok", "très bien"),
    "difficulties": ("Some difficulties", "difficultes", "difficulte", "probleme", "problemes", "problem"),
    "talk": ("I want to talk to my advisor", "parler", "talk"),
}
SHORT_ANSWER_WORDS = 4  # longer messages are the resident's own words, kept for the advisor


def _timer(ctx: HookContext) -> dict[str, Any]:
    timer = ctx.state.answers.get("timer")
    return timer if isinstance(timer, dict) else {}


def _forget_older_checkins(ctx: HookContext) -> None:
    """A new check-in (or its nudge) replaces any check-in question still waiting on the resume stack."""
    ctx.state.resume = [ref for ref in ctx.state.resume if not ref.startswith("checkin.")]


def _held(ctx: HookContext) -> bool:
    """A counsellor has the conversation: no check-in now (the counsellor is in touch)."""
    return ctx.state.handoff  # the flow then stays where it was ("stay"), saying nothing


def _sent(ctx: HookContext, nudge: bool) -> str:
    if _held(ctx):
        return "held"
    _forget_older_checkins(ctx)
    timer = _timer(ctx)
    key = str(timer.get("key", ""))
    ctx.state.answers["checkin_key"] = key
    ctx.emit(CheckinSent(key, str(timer.get("step", "")), nudge=nudge))
    return "ask"


@hook("checkin_start")
def checkin_start(ctx: HookContext) -> str:
    """A check-in came due: remember which one, and record that it went out (not while a counsellor talks)."""
    return _sent(ctx, nudge=False)


@hook("checkin_nudge")
def checkin_nudge(ctx: HookContext) -> str:
    """48 hours without an answer: ask once more (the answer is recorded against the same check-in)."""
    return _sent(ctx, nudge=True)


def understand_answer(text: str) -> str | None:
    """fine, difficulties or talk from a number or a short answer in any language; None for own words."""
    values = list(ANSWERS)
    number = understand.parse_number(text)
    if number is not None:
        return values[number - 1] if 1 <= number <= len(values) else None
    folded = understand.fold(text)
    if not folded or len(folded.split()) > SHORT_ANSWER_WORDS:
        return None
    for value, words in ANSWERS.items():
        labels = {understand.fold(translate(words[0], lang)) for lang in LANGUAGES}
        labels |= {understand.fold(w) for w in words}
        if folded in labels or any(len(lab) >= 4 and fuzz.ratio(folded, lab) >= 85 for lab in labels):
            return value
    return None


@hook("checkin_answer")
def checkin_answer(ctx: HookContext) -> str:
    """Record the answer, even to an expired check-in; free text is kept word for word."""
    _forget_older_checkins(ctx)
    key = str(ctx.state.answers.get("checkin_key", ""))
    text = str(ctx.answer)
    value = text if text in ANSWERS else understand_answer(text)
    if value is None:
        ctx.emit(CheckinAnswered(key, "text", text))
        return "text"
    ctx.emit(CheckinAnswered(key, value))
    return value


@hook("checkin_difficulty")
def checkin_difficulty(ctx: HookContext) -> None:
    """What the difficulty is about, with the date (the check-in's row keeps both)."""
    ctx.emit(CheckinDetail(str(ctx.state.answers.get("checkin_key", "")), difficulty=str(ctx.answer)))


@hook("checkin_details")
def checkin_details(ctx: HookContext) -> None:
    """The resident's own words about the difficulty, for the advisor."""
    ctx.emit(CheckinDetail(str(ctx.state.answers.get("checkin_key", "")), text=str(ctx.answer)))


@hook("step_message")
def step_message(ctx: HookContext) -> str:
    """The message of a new pathway step (flows/data/pathway.yaml), in the resident's language."""
    step = str(_timer(ctx).get("step", ""))
    definition = pathway_data().steps.get(step)
    if definition is None or not definition.message:
        return ""
    return translate(definition.message, ctx.state.lang)
