"""The handoff in the pure engine: silence while a counsellor has it, counsellor events, the hand-back."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.engine import Engine
from bot.engine.types import (
    CounsellorJoined,
    CounsellorReply,
    HandBack,
    Message,
    OptOut,
    Refused,
    Reply,
    State,
)

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)  # a Tuesday, 10:30 in Paris: office open
SUNDAY = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def run(engine: Engine, state: State, *texts: str, now: datetime = NOW) -> tuple[State, list[list[object]]]:
    said = []
    for text in texts:
        outcome = engine.handle(state, Message(text), now)
        state = outcome.state
        said.append(outcome.intents)
    return state, said


def texts(intents: list[object]) -> str:
    return "\n".join(i.text for i in intents if isinstance(i, Reply))


def signed_up(engine: Engine) -> State:
    state, _ = run(engine, State(), "Bonjour", "2", "1", "Sam", "93200", "1", "2", "2", "3")
    assert state.onboarded and state.at == "menu.main"
    return state


def test_asking_tells_once_then_silence_except_stop(conversation: Engine) -> None:
    state, said = run(
        conversation, signed_up(conversation), "ADVISOR", "hello?", "MENU", "HELP", "2", "ADVISOR"
    )
    assert "I have asked an advisor" in texts(said[0]) and "Our advisors answer" not in texts(said[0])
    assert said[1:] == [[], [], [], [], []]
    assert state.handoff and state.at == "handoff.waiting"
    state, said = run(conversation, state, "STOP")
    assert isinstance(said[0][0], OptOut) and state.opted_out


def test_outside_office_hours_the_resident_learns_when(conversation: Engine) -> None:
    _, said = run(conversation, signed_up(conversation), "ADVISOR", now=SUNDAY)
    assert "Monday–Friday 09:00–17:30" in texts(said[0])
    assert "Expect an answer from Monday 7 December at 9:00 AM" in texts(said[0])


def test_hand_back_says_so_and_shows_the_menu(conversation: Engine) -> None:
    state, _ = run(conversation, signed_up(conversation), "ADVISOR")
    outcome = conversation.handle(state, HandBack(), NOW)
    said = texts(outcome.intents)
    assert said.startswith("The advisor has finished.") and "What would you like to do?" in said
    assert not outcome.state.handoff and outcome.state.at == "menu.main"


def test_a_counsellor_takes_over_mid_sign_up_and_hands_back_to_the_same_question(
    conversation: Engine,
) -> None:
    state, _ = run(conversation, State(), "Bonjour", "2", "1", "Sam")
    assert state.at == "onboarding.postcode"
    joined = conversation.handle(state, CounsellorJoined(), NOW)
    assert joined.intents == [] and joined.state.handoff
    replied = conversation.handle(joined.state, CounsellorReply("Hi Sam"), NOW)
    assert [(i.text, i.kind) for i in replied.intents] == [("Hi Sam", "counsellor")]
    assert conversation.handle(replied.state, Message("93200"), NOW).intents == []
    back = conversation.handle(replied.state, HandBack(), NOW)
    assert "What is your postcode?" in texts(back.intents) and back.state.at == "onboarding.postcode"


def test_a_reply_to_an_opted_out_resident_is_refused(conversation: Engine) -> None:
    state, _ = run(conversation, signed_up(conversation), "ADVISOR", "STOP")
    outcome = conversation.handle(state, CounsellorReply("Hello?"), NOW)
    assert outcome.intents == [Refused("opted_out")]


def test_resolving_is_quiet_and_the_next_message_gets_the_menu(conversation: Engine) -> None:
    state, _ = run(conversation, signed_up(conversation), "ADVISOR")
    resolved = conversation.handle(state, HandBack(announce=False), NOW)
    assert resolved.intents == [] and not resolved.state.handoff
    _, said = run(conversation, resolved.state, "hello")
    assert "What would you like to do?" in texts(said[0])
