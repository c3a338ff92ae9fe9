"""GSM-7 character sets, SMS segment accounting and message splitting (pure functions)."""

from __future__ import annotations

import re
import unicodedata

GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The 127 printable characters of the GSM 03.38 default alphabet (the ESC slot is excluded)."""

GSM7_EXTENDED: frozenset[str] = frozenset("\f^{}\\[~]|€")
"""GSM 03.38 extension-table characters; each is sent as ESC + char, i.e. 2 septets."""

_GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENDED

GSM7_SINGLE_LIMIT = 160
GSM7_MULTI_LIMIT = 153
UCS2_SINGLE_LIMIT = 70
UCS2_MULTI_LIMIT = 67

# Explicit replacements for characters outside GSM-7 whose plain form means the same thing.
_REPLACEMENTS: dict[str, str] = {
    **dict(zip("âêîôûçëïÿ", "aeiouceiy", strict=True)),
    **dict(zip("ÀÂÈÊËÎÏÔÙÛŸ", "AAEEEIIOUUY", strict=True)),
    **dict.fromkeys("\u2018\u2019\u201a\u201b", "'"),  # curly single quotes
    **dict.fromkeys("\u201c\u201d\u201e\u201f«»", '"'),  # curly double quotes, guillemets
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),  # hyphens, dashes, minus
    **dict.fromkeys("\u2028\u2029", "\n"),  # line and paragraph separators
    "œ": "oe",
    "Œ": "OE",
    "\u2026": "...",
    "\t": " ",
}

# French typography puts (often non-breaking) spaces inside guillemets: « oui » -> "oui".
_GUILLEMET_OPEN = re.compile(r"«[^\S\r\n]*")
_GUILLEMET_CLOSE = re.compile(r"[^\S\r\n]*»")

# A base character followed by its combining marks (also catches emoji variation selectors).
_CLUSTER = re.compile(
    r".[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f]*", re.S
)


def _friendly_cluster(cluster: str) -> str:
    """Return a GSM-7 equivalent of one character cluster, or the cluster unchanged."""
    if all(ch in _GSM7_ALL for ch in cluster):
        return cluster
    composed = unicodedata.normalize("NFC", cluster)
    if all(ch in _GSM7_ALL for ch in composed):
        return composed
    if len(composed) == 1:
        if composed in _REPLACEMENTS:
            return _REPLACEMENTS[composed]
        if unicodedata.category(composed) == "Zs":
            return " "
    decomposed = unicodedata.normalize("NFD", composed)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Drop accents only from letters whose bare form is GSM-7 (so never from Arabic, Cyrillic, Greek...).
    if unicodedata.category(decomposed[0]).startswith("L") and stripped and is_gsm7(stripped):
        return stripped
    return cluster


def to_gsm7_friendly(text: str) -> str:
    """Replace characters outside GSM-7 by same-meaning GSM-7 ones; anything unmappable is kept as is."""
    text = _GUILLEMET_OPEN.sub("«", text)
    text = _GUILLEMET_CLOSE.sub("»", text)
    return "".join(_friendly_cluster(m.group()) for m in _CLUSTER.finditer(text))


def is_gsm7(text: str) -> bool:
    """Return True if every character of text is in the GSM-7 basic or extension table."""
    return all(ch in _GSM7_ALL for ch in text)


def encoding(text: str) -> str:
    """Return "GSM-7" if text can be sent in the GSM 7-bit alphabet, else "UCS-2"."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def septets(text: str) -> int:
    """Return the GSM-7 length of text in septets (extension characters count 2); ValueError if not GSM-7."""
    if not is_gsm7(text):
        raise ValueError("text is not GSM-7 encodable")
    return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def _utf16_units(ch: str) -> int:
    """Return how many UTF-16 code units one character takes (2 outside the BMP)."""
    return 2 if ord(ch) > 0xFFFF else 1


def _pack(widths: list[int], capacity: int) -> int:
    """Return how many segments of the given capacity hold the unsplittable items of these widths."""
    segments, used = 1, 0
    for width in widths:
        if used + width > capacity:
            segments, used = segments + 1, 0
        used += width
    return segments


def segment_count(text: str) -> int:
    """Return the SMS segment count of text; exact packing never splits an escape or a surrogate pair."""
    if is_gsm7(text):
        widths = [2 if ch in GSM7_EXTENDED else 1 for ch in text]
        single, multi = GSM7_SINGLE_LIMIT, GSM7_MULTI_LIMIT
    else:
        widths = [_utf16_units(ch) for ch in text]
        single, multi = UCS2_SINGLE_LIMIT, UCS2_MULTI_LIMIT
    if sum(widths) <= single:
        return 1
    return _pack(widths, multi)


# Split points, best first: (pattern, cut before the match (True) or after it (False)).
_SPLIT_LEVELS: tuple[tuple[re.Pattern[str], bool], ...] = (
    (re.compile(r"\n[^\S\n]*\n"), True),  # paragraph boundary (blank line, also \r\n\r\n)
    (re.compile(r"\n"), True),  # line break
    # sentence end, with any closing quotes or brackets (French: "« oui. »"), followed by whitespace
    (re.compile(r"[.!?…]+(?:[\"'”’)\]]|[^\S\n]*[»”])*(?=\s)"), False),
    (re.compile(r"\s"), True),  # any whitespace
)


def _find_cut(rest: str, limit: int) -> int:
    """Return the best index in 1..limit at which to cut rest (which starts with non-whitespace)."""
    for pattern, before in _SPLIT_LEVELS:
        best = 0
        for match in pattern.finditer(rest):
            cut = match.start() if before else match.end()
            if cut > limit:
                break
            best = cut
        if best:
            return best
    cut = limit
    while cut > 1 and unicodedata.combining(rest[cut]):
        cut -= 1  # do not separate a letter from its accent when hard-cutting
    return cut


def split_message(text: str, limit: int = 1600) -> list[str]:
    """Split text into parts of at most limit characters at paragraph, line, sentence or word boundaries."""
    if limit < 1:
        raise ValueError("limit must be positive")
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut = _find_cut(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts or [""]
