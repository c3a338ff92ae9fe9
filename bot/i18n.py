"""Translation layer: Babel catalogs from locales/, compiled in memory, and locale-aware formatting."""

from __future__ import annotations

import io
import string
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

LANGUAGES: tuple[str, ...] = ("fr", "en", "ar")
DEFAULT_LANGUAGE = "fr"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

# Spoken-style date patterns; the hour is written the way each language reads it on a phone.
_DATE_PATTERNS = {
    "fr": "EEEE d MMMM 'à' H'h'mm",
    "en": "EEEE d MMMM 'at' h:mm a",
    "ar": "EEEE d MMMM، HH:mm",
}


def po_path(lang: str) -> Path:
    """Where the catalog of one language lives."""
    return LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(lang: str) -> Translations:
    """The compiled catalog of a language, built in memory from its .po file.

    Compiling here, not with a separate step, avoids Babel's silent fallback to the
    source text when a stale or missing .mo file is on disk.
    """
    with po_path(lang).open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain=DOMAIN)


def placeholders(text: str) -> set[str]:
    """The {named} fields a text expects."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def translate(msgid: str, lang: str, **params: object) -> str:
    """The text in the resident's language, with its {fields} filled in."""
    text = translations(lang if lang in LANGUAGES else DEFAULT_LANGUAGE).gettext(msgid)
    if params:
        text = text.format(**{k: v for k, v in params.items()})
    return text


def format_when(moment: datetime, lang: str, tz: str = "Europe/Paris") -> str:
    """A date and time the way a resident says it, in their language and the service's time zone."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every stored time is UTC-aware")
    pattern = _DATE_PATTERNS.get(lang, _DATE_PATTERNS[DEFAULT_LANGUAGE])
    return format_datetime(moment, pattern, tzinfo=ZoneInfo(tz), locale=Locale.parse(lang))


def format_number(value: float, lang: str) -> str:
    """A number with the language's separators."""
    return format_decimal(value, locale=Locale.parse(lang))
