"""The named Python hooks that flows call when data alone cannot say what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.engine.types import EraseResident, HookContext, RecordConsent, RequestHandoff

HookFn = Callable[[HookContext], Any]
HOOKS: dict[str, HookFn] = {}
SEINE_SAINT_DENIS = "93"


def hook(name: str) -> Callable[[HookFn], HookFn]:
    """Register a function under the name flows use for it."""

    def register(fn: HookFn) -> HookFn:
        HOOKS[name] = fn
        return fn

    return register


@hook("set_language")
def set_language(ctx: HookContext) -> None:
    """Speak the chosen language from now on."""
    ctx.state.lang = str(ctx.answer)
    ctx.state.lang_chosen = True


@hook("language_known")
def language_known(ctx: HookContext) -> str:
    """Skip the language question when the resident already chose (e.g. on a previous visit)."""
    return "known" if ctx.state.lang_chosen else "unknown"


@hook("give_consent")
def give_consent(ctx: HookContext) -> None:
    """The resident agreed: from now on their answers may be stored."""
    ctx.state.consented = True
    ctx.emit(RecordConsent(given=True))


@hook("refuse_consent")
def refuse_consent(ctx: HookContext) -> None:
    """The resident refused: nothing personal is stored, and any past consent is withdrawn."""
    was = ctx.state.consented
    ctx.state.consented = False
    if was:
        ctx.emit(RecordConsent(given=False))


@hook("check_postcode")
def check_postcode(ctx: HookContext) -> str:
    """Route residents from outside Seine-Saint-Denis to a kind note."""
    return "inside" if str(ctx.answer).startswith(SEINE_SAINT_DENIS) else "outside"


@hook("finish_onboarding")
def finish_onboarding(ctx: HookContext) -> None:
    """Onboarding is done: the main menu is open."""
    ctx.state.onboarded = True


@hook("request_handoff")
def request_handoff(ctx: HookContext) -> str:
    """Ask for a counsellor, once (the resident asked, or the assistant failed to understand 3 times)."""
    if ctx.state.handoff:
        return "already"
    ctx.state.handoff = True
    ctx.emit(RequestHandoff(reason=str(ctx.state.answers.pop("handoff_reason", "resident_asked"))))
    return "asked"


@hook("erase_resident")
def erase_resident(ctx: HookContext) -> None:
    """Erase everything personal; the conversation starts afresh."""
    ctx.emit(EraseResident())


from flows.hooks import booking as _booking  # noqa: E402, F401 - registers the booking hooks
from flows.hooks import checkin as _checkin  # noqa: E402, F401 - registers the check-in hooks
from flows.hooks import discovery as _discovery  # noqa: E402, F401 - registers the discovery hooks
from flows.hooks import handoff as _handoff  # noqa: E402, F401 - registers the handoff hooks
