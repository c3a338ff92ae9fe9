"""Understanding what a resident wrote: cleaning, folding, keywords and answers to questions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

MAX_TEXT = 1000
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_NUMBER_WORDS = {
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "واحد": 1,
    "اثنان": 2,
    "اثنين": 2,
    "ثلاثه": 3,
    "ثلاث": 3,
    "اربعه": 4,
    "اربع": 4,
    "خمسه": 5,
    "خمس": 5,
    "سته": 6,
    "ست": 6,
    "سبعه": 7,
    "سبع": 7,
    "ثمانيه": 8,
    "تسعه": 9,
    "عشره": 10,
}
_YES = {
    "oui",
    "ouais",
    "ok",
    "okay",
    "d accord",
    "daccord",
    "yes",
    "yep",
    "yeah",
    "y",
    "o",
    "نعم",
    "ايوه",
    "اه",
    "موافق",
    "اوكي",
}
_NO = {"non", "no", "nope", "n", "nan", "لا", "كلا"}
_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")


@dataclass(frozen=True)
class Parsed:
    """An understood answer (value) or the reason it was not understood (error)."""

    value: object = None
    error: str | None = None


def clean(text: str) -> str:
    """Drop control characters, NUL and direction marks; fold whitespace; cap the length."""
    out = []
    for ch in text[: MAX_TEXT * 5]:
        cat = unicodedata.category(ch)
        if ch in "\n\t\r":
            out.append(" ")
        elif cat in ("Cc", "Cs", "Co") or (cat == "Cf" and ch not in "\u200d"):
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


@lru_cache(maxsize=8192)  # labels and keywords are folded on every message: keep them warm
def fold(text: str) -> str:
    """Lower case, no accents, no punctuation, Western digits: the form keywords are compared in."""
    text = unicodedata.normalize("NFKD", clean(text).translate(_DIGITS)).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    # Arabic letters that residents type interchangeably.
    text = text.translate(str.maketrans("أإآةى", "اااهي"))
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.replace("_", " ").split())


def parse_number(text: str) -> int | None:
    """'2', ' 2 ', '2.', 'n°2', 'deux', 'two' or 'اثنان' as a number."""
    folded = fold(text)
    folded = re.sub(r"^(n|no|numero|number|rep|reponse)\s*(?=\d)", "", folded)
    if folded.isdigit() and len(folded) <= 6:
        return int(folded)
    return _NUMBER_WORDS.get(folded)


def match_keyword(text: str, keywords: dict[str, list[str]]) -> str | None:
    """The global keyword the whole message is, if any (small typos allowed on long words)."""
    folded = fold(text)
    if not folded or len(folded) > 30:
        return None
    for action, words in keywords.items():
        if folded in (fold(w) for w in words):
            return action
    for action, words in keywords.items():
        for word in words:
            target = fold(word)
            if len(target) >= 7 and fuzz.ratio(folded, target) >= 85:
                return action
    return None


def match_option(text: str, labels: dict[str, list[str]]) -> str | None:
    """The option whose words the text says: exact, then with small typos, then contained."""
    folded = fold(text)
    if not folded:
        return None
    folded_labels = {value: {fold(lab) for lab in labs if fold(lab)} for value, labs in labels.items()}
    exact = {v for v, labs in folded_labels.items() if folded in labs}
    if len(exact) == 1:
        return exact.pop()
    scores: dict[str, float] = {}
    for value, labs in folded_labels.items():
        scores[value] = max((fuzz.ratio(folded, lab) for lab in labs if len(lab) >= 4), default=0)
    best = sorted(scores.items(), key=lambda kv: -kv[1])
    if best and best[0][1] >= 80 and (len(best) == 1 or best[1][1] < best[0][1] - 5):
        return best[0][0]
    words = set(folded.split())
    contained = {
        v
        for v, labs in folded_labels.items()
        if any(len(lab) >= 4 and set(lab.split()) <= words for lab in labs)
    }
    if len(contained) == 1:
        return contained.pop()
    return None


def parse_yes_no(text: str) -> bool | None:
    """Yes or no, in French, English or Arabic, as words."""
    folded = fold(text)
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None


def parse_choice(text: str, values: list[str], labels: dict[str, list[str]]) -> Parsed:
    """An answer to a choice: the option's number or its words."""
    number = parse_number(text)
    if number is not None:
        if 1 <= number <= len(values):
            return Parsed(values[number - 1])
        return Parsed(error="out_of_range")
    value = match_option(text, labels)
    return Parsed(value) if value else Parsed(error="not_understood")


def parse_postcode(text: str) -> Parsed:
    """A French postcode: five digits, spaces allowed ('93 200')."""
    compact = clean(text).translate(_DIGITS).replace(" ", "")
    if not compact.isdigit():
        return Parsed(error="postcode_digits")
    if len(compact) != 5:
        return Parsed(error="postcode_length")
    if compact[:2] in ("00", "99"):
        return Parsed(error="postcode_unknown")
    return Parsed(compact)


def parse_name(text: str) -> Parsed:
    """A first name: letters, with spaces, hyphens or apostrophes between parts."""
    name = clean(text)
    if len(name) > 40:
        return Parsed(error="too_long")
    if not _NAME_CHARS.match(name):
        return Parsed(error="name_letters")
    return Parsed(name)


def parse_int(text: str, low: int | None, high: int | None) -> Parsed:
    """A whole number within bounds."""
    number = parse_number(text)
    if number is None:
        return Parsed(error="not_a_number")
    if (low is not None and number < low) or (high is not None and number > high):
        return Parsed(error="out_of_range")
    return Parsed(number)


def parse_text(text: str) -> Parsed:
    """Free text, kept as written (cleaned and capped)."""
    cleaned = clean(text)
    if len(cleaned) > MAX_TEXT:
        return Parsed(error="too_long")
    return Parsed(cleaned)
