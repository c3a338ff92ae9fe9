"""Builds the assistant's conversation engine from the flows and the catalogs, once per process."""

from __future__ import annotations

from functools import lru_cache

from bot import i18n
from bot.engine.engine import Engine
from bot.engine.flow import load_flowset


def untranslated(text: str) -> list[str]:
    """The languages whose catalog has no translation (or a wrong-placeholder one) for a text."""
    missing = []
    for lang in i18n.LANGUAGES:
        translated = i18n.translations(lang).gettext(text)
        if lang != "en" and translated == text and not _same_everywhere(text):
            missing.append(lang)
        elif i18n.placeholders(translated) != i18n.placeholders(text):
            missing.append(lang)
    return missing


def _same_everywhere(text: str) -> bool:
    """Proper names and multilingual prompts are written the same in every catalog, on purpose."""
    catalog = i18n.translations("fr")._catalog  # noqa: SLF001 - babel exposes no public lookup
    return text in catalog and catalog[text] == text


@lru_cache(maxsize=1)
def conversation_engine() -> Engine:
    """The engine over every flow, validated for routes, hooks and translations."""
    flowset = load_flowset(translated=untranslated)
    return Engine(flowset, i18n.translate, i18n.LANGUAGES)
