"""The trade catalogue (flows/data/trades.yaml): typed, loaded once, with quiz scoring and search.

Texts in the data file are English msgids; their French and Arabic live in the Babel catalogs, so
every lookup that a resident sees goes through `bot.i18n.translate`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rapidfuzz import fuzz

from bot.engine.flow import load_yaml

DATA_FILE = Path(__file__).resolve().parent / "data" / "trades.yaml"
ROME_PATTERN = re.compile(r"^F1[3-7]\d\d$")
MATCH_THRESHOLD = 80  # out of 100: below it a word is not a match, only "closest"


@dataclass(frozen=True)
class Pay:
    """An indicative starting pay range, gross per month, with where it comes from."""

    low: int
    high: int
    source: str
    year: int
    indicative: bool


@dataclass(frozen=True)
class Trade:
    """One construction trade, keyed by its ROME code; texts are English msgids."""

    rome: str
    rome_label: str
    rome_version: str
    family: str
    access: str
    tags: tuple[str, ...]
    keywords: tuple[str, ...]
    pay: Pay
    routes: tuple[str, ...]
    related: tuple[str, ...]
    name: str
    pitch: str
    card: str
    more: str


@dataclass(frozen=True)
class Labelled:
    """A key with an English label (a family, a tag, an entry route)."""

    key: str
    label: str


@dataclass(frozen=True)
class QuizOption:
    """One answer of a quiz question: the points it gives to tags and the reason it can explain."""

    key: str
    label: str
    weights: Mapping[str, int]
    reason: str


@dataclass(frozen=True)
class QuizQuestion:
    key: str
    text: str
    options: tuple[QuizOption, ...]

    def option(self, key: str) -> QuizOption | None:
        return next((o for o in self.options if o.key == key), None)


@dataclass(frozen=True)
class Catalogue:
    """Everything in trades.yaml, in file order."""

    rome_version: str
    families: tuple[Labelled, ...]
    tags: tuple[Labelled, ...]
    routes: tuple[Labelled, ...]
    quiz: tuple[QuizQuestion, ...]
    trades: tuple[Trade, ...]
    top_n: int
    fallback_reason: str
    later: tuple[Labelled, ...]

    def trade(self, rome: str) -> Trade | None:
        return next((t for t in self.trades if t.rome == rome), None)

    def family(self, key: str) -> Labelled | None:
        return next((f for f in self.families if f.key == key), None)

    def in_family(self, key: str) -> list[Trade]:
        return [t for t in self.trades if t.family == key]

    def route(self, key: str) -> Labelled | None:
        return next((r for r in self.routes if r.key == key), None)

    def question(self, key: str) -> QuizQuestion | None:
        return next((q for q in self.quiz if q.key == key), None)

    def texts(self) -> list[tuple[str, str]]:
        """(where, English text) for every text a resident may see, for the translation catalogs."""
        out: list[tuple[str, str]] = []
        out += [(f"trades.families.{f.key}", f.label) for f in self.families]
        out += [(f"trades.tags.{t.key}", t.label) for t in self.tags]
        out += [(f"trades.routes.{r.key}", r.label) for r in self.routes]
        out.append(("trades.scoring.fallback_reason", self.fallback_reason))
        for q in self.quiz:
            out.append((f"trades.quiz.{q.key}", q.text))
            for o in q.options:
                out += [
                    (f"trades.quiz.{q.key}.{o.key}", o.label),
                    (f"trades.quiz.{q.key}.{o.key}.reason", o.reason),
                ]
        for t in self.trades:
            out += [
                (f"trades.{t.rome}.{field}", getattr(t, field)) for field in ("name", "pitch", "card", "more")
            ]
        out += [(f"trades.later.{x.key}", x.label) for x in self.later]
        return out


def _labelled(items: list[dict]) -> tuple[Labelled, ...]:
    return tuple(Labelled(str(i.get("key") or i.get("rome")), i["en"]) for i in items)


def _trade(raw: dict) -> Trade:
    pay = raw["pay"]
    low, high = pay["monthly_gross_eur"]
    return Trade(
        rome=raw["rome"],
        rome_label=raw["rome_label"],
        rome_version=raw["rome_version"],
        family=raw["family"],
        access=raw["access"],
        tags=tuple(raw["tags"]),
        keywords=tuple(raw.get("keywords", [])),
        pay=Pay(int(low), int(high), pay["source"], int(pay["year"]), bool(pay["indicative"])),
        routes=tuple(raw["routes"]),
        related=tuple(raw["related"]),
        **{field: raw["en"][field] for field in ("name", "pitch", "card", "more")},
    )


def parse(data: dict) -> Catalogue:
    """A catalogue from the data file's content."""
    quiz = tuple(
        QuizQuestion(
            q["key"],
            q["en"],
            tuple(
                QuizOption(str(o["key"]), o["en"], dict(o.get("tags") or {}), o["reason"]["en"])
                for o in q["options"]
            ),
        )
        for q in data["quiz"]
    )
    return Catalogue(
        rome_version=data["rome_version"],
        families=_labelled(data["families"]),
        tags=_labelled(data["tags"]),
        routes=_labelled(data["routes"]),
        quiz=quiz,
        trades=tuple(_trade(t) for t in data["trades"]),
        top_n=int(data["scoring"]["top_n"]),
        fallback_reason=data["scoring"]["fallback_reason"]["en"],
        later=_labelled(data.get("later_with_experience", [])),
    )


@cache
def catalogue() -> Catalogue:
    """The catalogue, read once per process."""
    return parse(load_yaml(DATA_FILE))


# Quiz scoring (documented in trades.yaml, `scoring.description`) ---------------------------


@dataclass(frozen=True)
class Proposal:
    """A trade the quiz proposes, with its score and the reason (an English msgid) to show."""

    trade: Trade
    score: int
    reason: str


def contribution(option: QuizOption, trade: Trade) -> int:
    """The points one answer gives a trade: the option's weights on the tags the trade carries."""
    return sum(weight for tag, weight in option.weights.items() if tag in trade.tags)


def score(answers: Mapping[str, str], cat: Catalogue | None = None) -> list[Proposal]:
    """The top trades for quiz answers {question key: option key}, each with its reason.

    Ties keep file order. The reason is the answer that gave the trade the most points; among
    equal answers, one whose reason no higher-ranked trade shows yet, then the earlier question.
    """
    cat = cat or catalogue()
    chosen = [o for q in cat.quiz if q.key in answers and (o := q.option(answers[q.key])) is not None]
    totals = [(sum(contribution(o, t) for o in chosen), t) for t in cat.trades]
    totals.sort(key=lambda p: -p[0])  # stable: equal scores stay in file order
    proposals: list[Proposal] = []
    used: set[str] = set()
    for total, trade in totals[: cat.top_n]:
        parts = [(contribution(o, trade), o) for o in chosen]
        best = max((p for p, _ in parts), default=0)
        if best > 0:
            tied = [o for p, o in parts if p == best]
            reason = next((o.reason for o in tied if o.reason not in used), tied[0].reason)
        else:
            reason = cat.fallback_reason
        used.add(reason)
        proposals.append(Proposal(trade, total, reason))
    return proposals


# Search ------------------------------------------------------------------------------------

STOP_WORDS = frozenset(
    (
        "je j veux voudrais aimerais faire etre devenir travailler travail metier metiers un une "
        "des les le la de du dans en et ou a au aux pour sur comme bien "
        "i want would like to be become work job as a an the in of and or do my me"
    ).split()
    + ["اريد", "أريد", "ان", "أن", "اعمل", "أعمل", "في", "عمل", "مهنة"]
)


def normalize(text: str) -> str:
    """Lower case, no accents (Latin) and no short vowels (Arabic), punctuation as spaces."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("œ", "oe").replace("æ", "ae"))
    text = "".join(c for c in text if not unicodedata.combining(c) and c != "\u0640")
    text = text.replace("أ", "ا").replace("إ", "ا").replace("آ", "ا")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def _words(text: str) -> list[str]:
    return [w for w in normalize(text).split() if w not in STOP_WORDS and len(w) >= 2]


def _word_score(query_word: str, word: str) -> float:
    """How well one written word matches one catalogue word: exact, a prefix ('elec'), or a typo."""
    if query_word == word:
        return 100.0
    if len(query_word) >= 3 and word.startswith(query_word):
        return 90.0
    if len(query_word) < 4:
        return 0.0
    return fuzz.ratio(query_word, word)


@cache
def _search_terms(lang_names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Per trade, the normalized words of its names (in every language) and keywords."""
    cat = catalogue()
    terms: dict[str, tuple[str, ...]] = {}
    for index, trade in enumerate(cat.trades):
        words: set[str] = set()
        for text in (*trade.keywords, lang_names[index], trade.rome_label):
            words.update(_words(text))
        terms[trade.rome] = tuple(sorted(words))
    return terms


def _all_names() -> tuple[str, ...]:
    from bot.i18n import LANGUAGES, translate

    return tuple(" ".join(translate(t.name, lang) for lang in LANGUAGES) for t in catalogue().trades)


def search(text: str, limit: int = 6) -> tuple[list[Trade], bool]:
    """Trades matching free text, best first, and whether they really match (False: only the closest 3)."""
    cat = catalogue()
    terms = _search_terms(_all_names())
    query = _words(text)
    scored: list[tuple[float, int, Trade]] = []
    for index, trade in enumerate(cat.trades):
        best = max((_word_score(q, w) for q in query for w in terms[trade.rome]), default=0.0)
        scored.append((best, index, trade))
    scored.sort(key=lambda s: (-s[0], s[1]))
    top = scored[0][0] if scored else 0.0
    if top >= MATCH_THRESHOLD:
        # keep the trades close to the best one, so "elec" does not drag in weak typos
        hits = [t for s, _, t in scored if s >= MATCH_THRESHOLD and s >= top - 10]
        return hits[:limit], True
    return [t for _, _, t in scored[:3]], False
