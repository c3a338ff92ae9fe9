"""Hooks of the handoff flow: office hours, so a resident knows when to expect an answer."""

from __future__ import annotations

from bot import office_hours
from bot.engine.types import HookContext
from bot.i18n import format_when
from flows.hooks import hook


@hook("office_hours")
def check_office_hours(ctx: HookContext) -> str:
    """'open' during office hours; else 'closed', with when to expect an answer in the answers."""
    hours = office_hours.configured()
    if hours.is_open(ctx.now):
        return "open"
    ctx.state.answers["handoff_hours"] = hours.describe(ctx.state.lang)
    ctx.state.answers["handoff_expected"] = format_when(hours.next_opening(ctx.now), ctx.state.lang, hours.tz)
    return "closed"
