"""How the assistant understands what residents type: numbers, words with typos, yes/no, postcodes, names."""

from __future__ import annotations

import pytest

from bot.engine import understand as u

LABELS = {
    "yes": ["Oui", "Yes", "نعم"],
    "no": ["Non", "No", "لا"],
    "unsaid": ["Je préfère ne pas le dire", "I'd rather not say", "أفضل ألا أقول"],
}
VALUES = ["yes", "no", "unsaid"]


@pytest.mark.parametrize(
    "text, number",
    [
        ("2", 2),
        (" 2 ", 2),
        ("2.", 2),
        ("2)", 2),
        ("n°2", 2),
        ("deux", 2),
        ("Deux", 2),
        ("two", 2),
        ("اثنان", 2),
        ("٢", 2),
        ("trois", 3),
        ("ثلاثة", 3),
        ("12", 12),
        ("banana", None),
        ("", None),
    ],
)
def test_numbers_in_every_form_a_resident_types(text: str, number: int | None) -> None:
    assert u.parse_number(text) == number


@pytest.mark.parametrize(
    "text, value",
    [
        ("1", "yes"),
        ("3", "unsaid"),
        ("OUI", "yes"),
        ("oui", "yes"),
        ("non", "no"),
        ("Yes", "yes"),
        ("je prefere ne pas le dire", "unsaid"),
        ("je préfère pas le dire", "unsaid"),
        ("Je prefere ne pas le dir", "unsaid"),
        ("i'd rather not say", "unsaid"),
        ("نعم", "yes"),
    ],
)
def test_choice_by_number_or_words_with_small_typos(text: str, value: str) -> None:
    assert u.parse_choice(text, VALUES, LABELS) == u.Parsed(value)


@pytest.mark.parametrize(
    "text, error",
    [
        ("4", "out_of_range"),
        ("0", "out_of_range"),
        ("banana", "not_understood"),
        ("😀", "not_understood"),
        ("<b>oui</b> ou non", "not_understood"),
    ],
)
def test_choice_not_understood_says_why(text: str, error: str) -> None:
    assert u.parse_choice(text, VALUES, LABELS).error == error


@pytest.mark.parametrize(
    "text, answer",
    [
        ("ok", True),
        ("OK", True),
        ("ouais", True),
        ("yes", True),
        ("d'accord", True),
        ("non", False),
        ("No", False),
        ("لا", False),
        ("peut-être", None),
    ],
)
def test_yes_no_words(text: str, answer: bool | None) -> None:
    assert u.parse_yes_no(text) == answer


@pytest.mark.parametrize(
    "text, result",
    [
        ("93200", u.Parsed("93200")),
        ("93 200", u.Parsed("93200")),
        ("٩٣٢٠٠", u.Parsed("93200")),
        ("9320", u.Parsed(error="postcode_length")),
        ("932000", u.Parsed(error="postcode_length")),
        ("abcde", u.Parsed(error="postcode_digits")),
        ("00000", u.Parsed(error="postcode_unknown")),
        ("", u.Parsed(error="postcode_digits")),
    ],
)
def test_postcodes(text: str, result: u.Parsed) -> None:
    assert u.parse_postcode(text) == result


@pytest.mark.parametrize(
    "text, ok",
    [
        ("Amina", True),
        ("Jean-Pierre", True),
        ("N'Golo", True),
        ("ياسين", True),
        ("Marie Claire", True),
        ("<script>", False),
        ("😀", False),
        ("Robert'); DROP TABLE", False),
        ("12", False),
        ("A" * 41, False),
    ],
)
def test_first_names(text: str, ok: bool) -> None:
    assert (u.parse_name(text).error is None) is ok


def test_cleaning_drops_control_and_direction_marks_but_keeps_text() -> None:
    assert u.clean("\u200f\u202eAmina\u202c\x00\x07") == "Amina"
    assert u.clean("  deux \n mots ") == "deux mots"
    assert len(u.clean("A" * 5000)) == 5000 and len(u.clean("A" * 20000)) == 5000


KEYWORDS = {"stop": ["STOP", "ARRET"], "counsellor": ["CONSEILLER", "ADVISOR"], "start": ["START", "/start"]}


@pytest.mark.parametrize(
    "text, action",
    [
        ("stop", "stop"),
        ("Stop.", "stop"),
        ("ARRÊT", "stop"),
        ("arret", "stop"),
        ("conseillé", "counsellor"),
        ("CONSEILER", "counsellor"),
        ("/start", "start"),
        ("stop please me", None),
        ("stopper", None),
        ("", None),
    ],
)
def test_keywords_are_case_and_accent_insensitive(text: str, action: str | None) -> None:
    assert u.match_keyword(text, KEYWORDS) == action
