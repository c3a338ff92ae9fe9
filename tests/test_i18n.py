"""Every text a resident sees exists in fr, en and ar; dates and numbers read the way each language reads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n_extract import build_template


def _catalog(lang: str):  # noqa: ANN202 - babel's Catalog
    with i18n.po_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang)


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_no_untranslated_or_fuzzy_entry(lang: str) -> None:
    catalog = _catalog(lang)
    bad = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert bad == [], f"{lang}: untranslated or fuzzy: {bad}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_flow_text_is_in_the_catalog(lang: str) -> None:
    catalog = _catalog(lang)
    missing = [m.id for m in build_template() if m.id and m.id not in catalog]
    assert missing == [], f"run `python -m bot.i18n_extract` and translate: {missing}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_translations_keep_their_placeholders(lang: str) -> None:
    for message in _catalog(lang):
        if message.id and message.string:
            assert i18n.placeholders(message.string) == i18n.placeholders(message.id), message.id


def test_arabic_and_french_translations_differ_from_english() -> None:
    assert i18n.translate("What is your first name?", "fr") == "Quel est votre prénom ?"
    assert i18n.translate("What is your first name?", "ar") == "ما اسمك الأول؟"
    assert i18n.translate("Thank you {first_name}, you are signed up!", "ar", first_name="ياسين").startswith(
        "شكرا ياسين"
    )


def test_plural_forms_are_pinned_per_language() -> None:
    # Babel 2.18: French has two plural forms and Arabic six (see domain.md on 2.19).
    assert i18n.translations("fr").plural(1) == 0 and i18n.translations("fr").plural(2) == 1
    assert _catalog("ar").num_plurals == 6
    assert _catalog("fr").num_plurals == 2


@pytest.mark.parametrize(
    "lang, expected",
    [("fr", "mardi 8 décembre à 10h00"), ("en", "Tuesday 8 December at 10:00 AM")],
)
def test_dates_in_paris_time_and_the_residents_language(lang: str, expected: str) -> None:
    moment = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)  # 10:00 in Paris (winter time)
    assert i18n.format_when(moment, lang) == expected


def test_arabic_dates_use_arabic_month_names() -> None:
    text = i18n.format_when(datetime(2026, 12, 8, 9, 0, tzinfo=UTC), "ar")
    assert "ديسمبر" in text and "الثلاثاء" in text


def test_summer_time_is_applied() -> None:
    assert i18n.format_when(datetime(2026, 7, 7, 8, 0, tzinfo=UTC), "fr") == "mardi 7 juillet à 10h00"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        i18n.format_when(datetime(2026, 7, 7, 8, 0), "fr")


def test_numbers_use_each_languages_separators() -> None:
    assert i18n.format_number(1234.5, "en") == "1,234.5"
    assert i18n.format_number(1234.5, "fr").replace("\u202f", " ") == "1 234,5"
