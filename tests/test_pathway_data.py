"""The pathway data file: steps in the public tools' shape, check-in cadence, validation, SMS budget."""

from __future__ import annotations

from datetime import date

import pytest

from bot.channels.base import OutboundMessage
from bot.channels.gsm7 import segment_count
from bot.channels.sms import render_sms
from bot.i18n import LANGUAGES, translate
from bot.pathway import check_pathway, checkin_days, checkin_due, parse, pathway_data
from flows.hooks.checkin import understand_answer
from tests.booking_kit import paris

STEPS = [
    "first_contact",
    "diagnostic_interview",
    "trade_project",
    "training",
    "work_trial",
    "job",
    "lasting_job",
    "exit",
]


def test_every_step_has_a_theme_a_goal_and_actions() -> None:
    data = pathway_data()
    assert list(data.steps) == STEPS
    for step in data.steps.values():
        assert step.theme and step.goal
    assert data.step("job").details["social_clause"].type == "bool"
    assert data.step("trade_project").details["rome_code"].required
    assert not data.step("exit").open and not data.step("lasting_job").open and data.step("job").open
    assert data.lasting_job_target == 500


def test_job_cadence_weekly_then_fortnightly_then_four_weekly_until_six_months() -> None:
    data = pathway_data()
    days = checkin_days(data.step("job"), date(2026, 12, 1), None, data.max_days)
    assert days == [7, 14, 21, 28, 42, 56, 70, 84, 112, 140, 168]


def test_training_is_weekly_until_its_end_date() -> None:
    data = pathway_data()
    assert checkin_days(data.step("training"), date(2026, 12, 1), date(2027, 1, 26), data.max_days) == [
        7,
        14,
        21,
        28,
        35,
        42,
        49,
        56,
    ]
    assert checkin_days(data.step("job"), date(2026, 12, 1), date(2026, 12, 20), data.max_days) == [7, 14]
    assert checkin_days(data.step("first_contact"), date(2026, 12, 1), None, data.max_days) == []


def test_a_checkin_goes_out_at_ten_or_after_quiet_hours() -> None:
    at = pathway_data().checkin_time
    assert checkin_due(date(2026, 12, 1), 7, at) == paris(2026, 12, 8, 10)
    assert checkin_due(date(2026, 12, 6), 7, at) == paris(2026, 12, 14, 9)  # a Sunday: Monday 9:00
    assert checkin_due(date(2026, 12, 18), 7, at) == paris(2026, 12, 26, 9)  # Christmas Day


def test_the_data_file_refuses_mistakes() -> None:
    good = {
        "checkin_time": "10:00",
        "nudge_after_hours": 48,
        "missed_after_hours": 48,
        "missed_in_a_row": 2,
        "no_contact_days": 30,
        "lasting_job_target": 500,
        "max_days": 183,
        "action_statuses": ["todo"],
        "steps": [
            {"id": "a", "theme": "t", "goal": "g", "checkins": [{"every_days": 7, "until_day": "end"}]}
        ],
    }
    assert parse(good).step("a").checkins[0].until_day is None
    with pytest.raises(ValueError, match="every_days"):
        parse({**good, "steps": [{**good["steps"][0], "checkins": [{"every_days": 0, "until_day": 3}]}]})
    with pytest.raises(ValueError, match="twice"):
        parse({**good, "steps": [good["steps"][0], good["steps"][0]]})
    with pytest.raises(ValueError, match="priority"):
        parse({**good, "alerts": {"talk": "urgent"}})


def test_validation_names_each_wrong_field() -> None:
    steps = [
        {"step": "job", "started_on": date(2026, 12, 5), "details": {"employer": "", "extra": 1}},
        {"step": "training", "started_on": date(2026, 12, 1), "ended_on": date(2026, 11, 1), "details": {}},
    ]
    locs = {tuple(e["loc"][2:]) for e in check_pathway(steps)}
    assert locs == {
        (0, "details", "extra"),
        (0, "details", "employer"),
        (0, "details", "contract_type"),
        (0, "details", "social_clause"),
        (1, "ended_on"),
        (1, "started_on"),
        (1, "details", "course"),
    }


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", "fine"),
        (" 2. ", "difficulties"),
        ("trois", "talk"),
        ("ça va", "fine"),
        ("Ca va bien", "fine"),
        ("quelques difficultes", "difficulties"),
        ("بخير", "fine"),
        ("Some difficulties", "difficulties"),
        ("ça va pas du tout, j'ai perdu mon logement", None),
        ("pas bien du tout", None),
        ("7", None),
    ],
)
def test_checkin_answers_in_any_language_or_own_words(text: str, value: str | None) -> None:
    assert understand_answer(text) == value


def test_step_messages_are_translated_and_fit_two_sms_segments() -> None:
    for step in pathway_data().steps.values():
        if not step.message:
            continue
        for lang in LANGUAGES:
            text = translate(step.message, lang)
            assert lang == "en" or text != step.message, (lang, step.id)
        [body] = render_sms(OutboundMessage(translate(step.message, "fr"), [], None, "fr"))
        assert segment_count(body) <= 2, body
