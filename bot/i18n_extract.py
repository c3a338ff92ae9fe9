"""Babel extraction of flow texts, as an extractor plugin and as the catalog update command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.engine.flow import FLOWS_DIR, read_flow_file
from bot.i18n import LANGUAGES, LOCALES_DIR, po_path


def flow_messages(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, text, where) for each translatable text of one flow file."""
    flow = read_flow_file(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    from bot.engine.flow import FlowSet

    for where, text in FlowSet({flow.flow: flow}, {}).all_texts():
        first = text.splitlines()[0][:40]
        lineno = next((i + 1 for i, line in enumerate(lines) if first in line), 0)
        yield lineno, text, where


def extract_flows(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor entry point for flows/*.yaml (see babel.cfg)."""
    for lineno, text, where in flow_messages(Path(fileobj.name)):
        yield lineno, "", text, [where]


def data_messages(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, text, where) for each text residents see in the trade catalogue (flows/data/trades.yaml)."""
    from flows.trades import load_yaml, parse

    lines = path.read_text(encoding="utf-8").splitlines()
    for where, text in parse(load_yaml(path)).texts():
        first = text.splitlines()[0][:40]
        lineno = next((i + 1 for i, line in enumerate(lines) if first in line), 0)
        yield lineno, text, where


def build_template() -> Catalog:
    """messages.pot, made from every flow file, the trade catalogue and the pathway data."""
    template = Catalog(project="batissons", fuzzy=False)
    for path in sorted(FLOWS_DIR.glob("*.yaml")):
        for lineno, text, where in flow_messages(path):
            template.add(text, locations=[(f"flows/{path.name}", lineno)], auto_comments=[where])
    data = FLOWS_DIR / "data" / "trades.yaml"
    for lineno, text, where in data_messages(data):
        previous = template.get(text)
        comments = [*previous.auto_comments, where] if previous else [where]
        locations = (
            [*previous.locations, ("flows/data/trades.yaml", lineno)]
            if previous
            else [("flows/data/trades.yaml", lineno)]
        )
        template.add(text, locations=locations, auto_comments=comments)
    pathway = FLOWS_DIR / "data" / "pathway.yaml"
    for lineno, text, where in pathway_messages(pathway):
        if template.get(text) is None:
            template.add(text, locations=[("flows/data/pathway.yaml", lineno)], auto_comments=[where])
    return template


def pathway_messages(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, text, where) for each text residents see in the pathway data (flows/data/pathway.yaml)."""
    from bot.pathway import load_yaml, parse

    lines = path.read_text(encoding="utf-8").splitlines()
    for where, text in parse(load_yaml(path)).texts():
        first = text.splitlines()[0][:40]
        lineno = next((i + 1 for i, line in enumerate(lines) if first in line), 0)
        yield lineno, text, where


def update_catalogs() -> dict[str, int]:
    """Rewrite messages.pot and merge it into each language; English is the source, filled as is."""
    template = build_template()
    with (LOCALES_DIR / "messages.pot").open("wb") as fh:
        write_po(fh, template, omit_header=False, sort_output=False)
    missing: dict[str, int] = {}
    for lang in LANGUAGES:
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
        else:
            catalog = Catalog(locale=lang, project="batissons")
        # A fresh template each time: Babel shares Message objects between template and catalog.
        catalog.update(build_template(), update_creation_date=False)
        catalog.obsolete.clear()
        for message in catalog:
            if not message.id:
                continue
            if lang == "en" and not message.string:
                message.string = message.id
            if message.fuzzy and lang == "en":
                message.string = message.id
                message.flags.discard("fuzzy")
        missing[lang] = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
        with path.open("wb") as fh:
            write_po(fh, catalog, omit_header=False, sort_output=False, width=100)
    return missing


if __name__ == "__main__":
    print(update_catalogs())
