"""Hooks of the trade discovery flow (flows/discovery.yaml): lists, cards, quiz, search, interest."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlmodel import select

from bot.effects import EffectContext, applies
from bot.engine.flow import FLOWS_DIR, load_yaml
from bot.engine.types import Choice, HookContext
from bot.i18n import translate
from bot.store.models import ResidentTrade
from flows import trades
from flows.hooks import hook

QUIZ_PREFIX = "quiz_"
PAGE_SIZE = 5  # trades per list, so a family never sends more than 6 choices in one SMS
MORE_TRADES = "more_trades"


@dataclass(frozen=True)
class SaveTradeInterest:
    """The resident said "this interests me": keep the ROME code on their profile for counsellors."""

    rome_code: str
    label: str
    rome_version: str


def _t(ctx: HookContext, msgid: str) -> str:
    return translate(msgid, ctx.state.lang)


@cache
def _texts() -> dict[str, str]:
    """The named texts of flows/discovery.yaml (extracted and translated like every flow text)."""
    return dict(load_yaml(FLOWS_DIR / "discovery.yaml")["texts"])


def _text(ctx: HookContext, name: str) -> str:
    return _t(ctx, _texts()[name])


def _trade_choices(ctx: HookContext, codes: list[str]) -> list[Choice]:
    cat = trades.catalogue()
    listed = [cat.trade(code) for code in codes]
    return [Choice(t.rome, _t(ctx, t.name)) for t in listed if t is not None]


def _current(ctx: HookContext) -> trades.Trade:
    trade = trades.catalogue().trade(str(ctx.state.answers.get("trade", "")))
    return trade or trades.catalogue().trades[0]


# Browse ------------------------------------------------------------------------------------


@hook("trade_families")
def trade_families(ctx: HookContext) -> list[Choice]:
    """The five families of trades."""
    return [Choice(f.key, _t(ctx, f.label)) for f in trades.catalogue().families]


@hook("choose_family")
def choose_family(ctx: HookContext) -> None:
    """A family was chosen: its list starts at the first page."""
    ctx.state.answers["family_page"] = 0


@hook("family_trades")
def family_trades(ctx: HookContext) -> list[Choice]:
    """The trades of the chosen family, PAGE_SIZE at a time, then "more trades" if the family has more."""
    family = [t.rome for t in trades.catalogue().in_family(str(ctx.state.answers.get("family", "")))]
    pages = max(1, -(-len(family) // PAGE_SIZE))
    page = int(ctx.state.answers.get("family_page", 0)) % pages
    listed = _trade_choices(ctx, family[page * PAGE_SIZE : (page + 1) * PAGE_SIZE])
    if pages > 1:
        listed.append(Choice(MORE_TRADES, _text(ctx, "more_in_family")))
    return listed


@hook("next_family_page")
def next_family_page(ctx: HookContext) -> str | None:
    """'More trades' turns the page (back to the first after the last); a trade goes on to its card."""
    if ctx.answer != MORE_TRADES:
        return None
    ctx.state.answers["family_page"] = int(ctx.state.answers.get("family_page", 0)) + 1
    return MORE_TRADES


@hook("trade_card")
def trade_card(ctx: HookContext) -> str:
    """The trade's name and short card (fits 2 SMS in French)."""
    trade = _current(ctx)
    ctx.state.answers["trade_name"] = _t(ctx, trade.name)
    return f"{_t(ctx, trade.name)}\n{_t(ctx, trade.card)}"


@hook("trade_more")
def trade_more(ctx: HookContext) -> str:
    """The longer text (it tells the ways in), then the indicative starting pay with its year."""
    trade = _current(ctx)
    pay = _text(ctx, "pay").format(low=trade.pay.low, high=trade.pay.high, year=trade.pay.year)
    return f"{_t(ctx, trade.more)}\n\n{pay}"


@hook("related_trades")
def related_trades(ctx: HookContext) -> list[Choice]:
    """Two or three trades close to the one on screen."""
    return _trade_choices(ctx, list(_current(ctx).related))


# Quiz --------------------------------------------------------------------------------------


def _question(ctx: HookContext) -> trades.QuizQuestion:
    """The quiz question of the current step: step 'quiz_heights' asks question 'heights'."""
    key = str(ctx.state.step or "").removeprefix(QUIZ_PREFIX)
    question = trades.catalogue().question(key)
    if question is None:
        raise KeyError(f"no quiz question {key!r} for step {ctx.state.step!r}")
    return question


@hook("quiz_options")
def quiz_options(ctx: HookContext) -> list[Choice]:
    """The answers of this step's question; the question goes in {quiz_question}, the step's text."""
    question = _question(ctx)
    number = [q.key for q in trades.catalogue().quiz].index(question.key) + 1
    total = len(trades.catalogue().quiz)
    ctx.state.answers["quiz_question"] = f"{number}/{total} {_t(ctx, question.text)}"
    return [Choice(o.key, _t(ctx, o.label)) for o in question.options]


def quiz_answers(answers: dict) -> dict[str, str]:
    """The quiz answers kept in the conversation, as {question key: option key}."""
    keys = [q.key for q in trades.catalogue().quiz]
    return {k: str(answers[QUIZ_PREFIX + k]) for k in keys if QUIZ_PREFIX + k in answers}


@hook("quiz_result")
def quiz_result(ctx: HookContext) -> str:
    """The top 3 trades, each with the one-line reason drawn from the answers."""
    proposals = trades.score(quiz_answers(ctx.state.answers))
    ctx.state.answers["quiz_top"] = [p.trade.rome for p in proposals]
    lines = [f"- {_t(ctx, p.trade.name)}: {_t(ctx, p.reason)}" for p in proposals]
    return _text(ctx, "quiz_top") + "\n" + "\n".join(lines)


@hook("quiz_proposals")
def quiz_proposals(ctx: HookContext) -> list[Choice]:
    return _trade_choices(ctx, list(ctx.state.answers.get("quiz_top", [])))


# Search ------------------------------------------------------------------------------------


@hook("search_trades")
def search_trades(ctx: HookContext) -> str:
    """Find trades for what the resident wrote; 'none' when only the closest ones can be offered."""
    found, matched = trades.search(str(ctx.answer))
    ctx.state.answers["search_hits"] = [t.rome for t in found]
    return "found" if matched else "none"


@hook("search_results")
def search_results(ctx: HookContext) -> list[Choice]:
    return _trade_choices(ctx, list(ctx.state.answers.get("search_hits", [])))


# Interest ----------------------------------------------------------------------------------


@hook("save_trade_interest")
def save_trade_interest(ctx: HookContext) -> str:
    """Keep the trade on the resident's profile, only ever after their consent."""
    if not ctx.state.consented:
        return "not_saved"
    trade = _current(ctx)
    ctx.state.answers["trade_name"] = _t(ctx, trade.name)
    ctx.emit(SaveTradeInterest(trade.rome, trade.rome_label, trade.rome_version))
    return "saved"


@applies(SaveTradeInterest)
def apply_trade_interest(ctx: EffectContext, intent: SaveTradeInterest) -> None:
    """One row per resident and trade; saying it twice keeps the first date."""
    rid = ctx.resident.id
    assert rid is not None
    known = ctx.session.exec(
        select(ResidentTrade).where(
            ResidentTrade.resident_id == rid, ResidentTrade.rome_code == intent.rome_code
        )
    ).first()
    if known is None:
        ctx.session.add(
            ResidentTrade(
                resident_id=rid,
                rome_code=intent.rome_code,
                label=intent.label,
                rome_version=intent.rome_version,
                created_at=ctx.now,
            )
        )
