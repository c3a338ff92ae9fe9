"""The trade catalogue (flows/data/trades.yaml): complete in all languages, valid codes, SMS-sized cards."""

from __future__ import annotations

import re

import pytest

from bot import i18n
from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.engine.types import HookContext, State
from flows import trades
from flows.hooks import HOOKS

# The construction trades of ROME domain F (v3 labels), as listed in the shared domain notes (domain.md).
DOMAIN_F = {
    "F1301", "F1302", "F1501", "F1502", "F1503", "F1601", "F1602", "F1603", "F1604", "F1605", "F1606",
    "F1607", "F1608", "F1609", "F1610", "F1611", "F1612", "F1613", "F1701", "F1702", "F1703", "F1704",
    "F1705", "F1706",
}  # fmt: skip
FIELDS = ("name", "pitch", "card", "more")
CAT = trades.catalogue()


def _translated(msgid: str, lang: str) -> str:
    text = i18n.translate(msgid, lang)
    assert text.strip(), (lang, msgid)
    if lang != "en":
        assert text != msgid, f"no {lang} translation for {msgid!r}"
    return text


def test_there_are_at_least_twenty_trades_each_with_a_unique_code() -> None:
    codes = [t.rome for t in CAT.trades]
    assert len(codes) >= 20
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("trade", CAT.trades, ids=lambda t: t.rome)
def test_codes_are_well_formed_and_in_domain_f(trade: trades.Trade) -> None:
    assert re.fullmatch(trades.ROME_PATTERN, trade.rome)
    assert trade.rome in DOMAIN_F
    assert trade.rome_label and trade.rome_version == CAT.rome_version == "v3"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
@pytest.mark.parametrize("trade", CAT.trades, ids=lambda t: t.rome)
def test_every_trade_has_every_text_in_every_language(trade: trades.Trade, lang: str) -> None:
    for field in FIELDS:
        _translated(getattr(trade, field), lang)


@pytest.mark.parametrize("trade", CAT.trades, ids=lambda t: t.rome)
def test_every_trade_has_routes_pay_family_tags_and_related_trades(trade: trades.Trade) -> None:
    codes = {t.rome for t in CAT.trades}
    assert CAT.family(trade.family) is not None
    assert trade.tags and set(trade.tags) <= {t.key for t in CAT.tags}
    assert trade.routes and all(CAT.route(r) is not None for r in trade.routes)
    assert 2 <= len(trade.related) <= 3
    assert set(trade.related) <= codes and trade.rome not in trade.related
    assert trade.pay.indicative and trade.pay.source and 2024 <= trade.pay.year <= 2030
    assert 1000 < trade.pay.low <= trade.pay.high < 5000
    assert trade.keywords


def test_there_are_five_families_listed_at_most_six_choices_at_a_time() -> None:
    assert [f.key for f in CAT.families] == [
        "gros_oeuvre", "second_oeuvre", "travaux_publics", "engins_levage", "bois_metal"
    ]  # fmt: skip
    for family in CAT.families:
        state = State(lang="fr", answers={"family": family.key, "family_page": 0})
        seen: set[str] = set()
        for page in range(4):
            state.answers["family_page"] = page
            choices = HOOKS["family_trades"](HookContext(state, None, None))
            assert 1 <= len(choices) <= 6, family.key
            seen |= {c.value for c in choices}
        assert {t.rome for t in CAT.in_family(family.key)} <= seen, family.key


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_families_routes_tags_and_quiz_are_translated(lang: str) -> None:
    for item in (*CAT.families, *CAT.routes, *CAT.tags, *CAT.later):
        _translated(item.label, lang)
    _translated(CAT.fallback_reason, lang)
    for question in CAT.quiz:
        _translated(question.text, lang)
        for option in question.options:
            _translated(option.reason, lang)
            # short answers like "Yes" or "Both" legitimately appear elsewhere too
            assert i18n.translate(option.label, lang).strip()


def test_the_quiz_has_six_to_ten_questions_answered_by_digit() -> None:
    assert 6 <= len(CAT.quiz) <= 10
    tags = {t.key for t in CAT.tags}
    for question in CAT.quiz:
        assert 2 <= len(question.options) <= 9
        assert len({o.key for o in question.options}) == len(question.options)
        for option in question.options:
            assert set(option.weights) <= tags, (question.key, option.key)


@pytest.mark.parametrize("trade", CAT.trades, ids=lambda t: t.rome)
def test_every_french_card_fits_two_sms_segments(trade: trades.Trade) -> None:
    """The card as the flow sends it (name, then card), rendered for SMS."""
    state = State(lang="fr", answers={"trade": trade.rome}, consented=True)
    text = HOOKS["trade_card"](HookContext(state, None, None))
    bodies = render_sms(OutboundMessage(text, [], lang="fr"))
    assert len(bodies) == 1
    assert segment_count(bodies[0]) <= 2, (len(bodies[0]), bodies[0])


def test_the_discovery_flow_asks_every_quiz_question_in_order() -> None:
    from bot.engine.flow import FLOWS_DIR, read_flow_file

    flow = read_flow_file(FLOWS_DIR / "discovery.yaml")
    asked = [
        step_id.removeprefix("quiz_")
        for step_id, step in flow.steps.items()
        if step.options_from == "quiz_options"
    ]
    assert asked == [q.key for q in CAT.quiz]
