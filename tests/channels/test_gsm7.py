"""Table-driven tests for GSM-7 detection, SMS segment counting and message splitting."""

import math
import re

import pytest

from bot.channels.gsm7 import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    encoding,
    is_gsm7,
    segment_count,
    septets,
    split_message,
    to_gsm7_friendly,
)

ARABIC = "مرحبا"  # 5 letters, all in the BMP
EMOJI = "😀"  # U+1F600, outside the BMP: 2 UTF-16 code units
NBSP = "\u00a0"
NNBSP = "\u202f"


def _non_space(text: str) -> str:
    """Return text without any whitespace."""
    return re.sub(r"\s", "", text)


# --- character sets -------------------------------------------------------------------------------


def test_basic_set_is_the_127_printable_gsm_0338_characters() -> None:
    assert len(GSM7_BASIC) == 127
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENDED)


@pytest.mark.parametrize("ch", list("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ ¤¡ÄÖÑÜ§¿äöñüà\n\r\"'") + ["A", "z", "0"])
def test_in_basic_set(ch: str) -> None:
    assert ch in GSM7_BASIC


@pytest.mark.parametrize("ch", list("^{}\\[~]|€"))
def test_in_extension_table(ch: str) -> None:
    assert ch in GSM7_EXTENDED
    assert ch not in GSM7_BASIC


@pytest.mark.parametrize("ch", list("âçêëîïôûÿœÀÂÈÊËÎÏÔÙÛŒ«»’`\t") + [NBSP, NNBSP, "\u2026", "\u2013"])
def test_not_in_gsm7(ch: str) -> None:
    assert ch not in GSM7_BASIC
    assert ch not in GSM7_EXTENDED
    assert not is_gsm7(ch)


# --- encoding / is_gsm7 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "GSM-7"),
        ("Bonjour, votre rendez-vous est à 14h.", "GSM-7"),
        ("é è à ù ì ò É Ç ä ö ñ ü Ä Ö Ñ Ü", "GSM-7"),
        ("Prix : 12 € {ok} [x] ~ | \\ ^", "GSM-7"),
        ("Fenêtre", "UCS-2"),
        ("Ça va ? ça va", "UCS-2"),  # Ç is GSM-7, ç is not
        ("Élise", "GSM-7"),
        ("Èlise", "UCS-2"),
        ("« Bonjour »", "UCS-2"),
        ("l’atelier", "UCS-2"),
        (f"1{NNBSP}234", "UCS-2"),
        (f"10{NBSP}h", "UCS-2"),
        (ARABIC, "UCS-2"),
        (f"Merci {EMOJI}", "UCS-2"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    assert encoding(text) == expected
    assert is_gsm7(text) is (expected == "GSM-7")


# --- septets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("abc", 3),
        ("é", 1),
        ("€", 2),
        ("5 €", 4),
        ("{}[]~|\\^€", 18),
        ("a\nb", 3),
    ],
)
def test_septets(text: str, expected: int) -> None:
    assert septets(text) == expected


@pytest.mark.parametrize("text", ["ê", ARABIC, EMOJI])
def test_septets_rejects_non_gsm7(text: str) -> None:
    with pytest.raises(ValueError):
        septets(text)


# --- segment_count ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        # GSM-7: 160 in one segment, then 153 per segment.
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("é" * 160, 1),
        ("é" * 161, 2),
        # Extension characters count double.
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("a" * 158 + "€", 1),
        # An escape sequence is never split: 306 septets, but the € cannot straddle segments 1 and 2.
        ("a" * 152 + "€" + "a" * 152, 3),
        ("a" * 151 + "€" + "a" * 153, 2),
        # UCS-2: 70 code units in one segment, then 67 per segment.
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        (ARABIC * 14, 1),
        (ARABIC * 14 + "ا", 2),
        # Emoji outside the BMP count 2 UTF-16 code units.
        (EMOJI * 35, 1),
        (EMOJI * 35 + "a", 2),
        ("a" * 69 + EMOJI, 2),
        # A surrogate pair is never split: 134 units, but the emoji cannot straddle segments 1 and 2.
        ("ê" * 66 + EMOJI + "ê" * 66, 3),
        ("ê" * 65 + EMOJI + "ê" * 67, 2),
    ],
)
def test_segment_count(text: str, expected: int) -> None:
    assert segment_count(text) == expected


def test_single_non_gsm_character_switches_whole_message_to_ucs2() -> None:
    plain = "a" * 99 + "e"
    accented = "a" * 99 + "ê"
    assert len(accented) == 100
    assert (encoding(plain), segment_count(plain)) == ("GSM-7", 1)
    assert (encoding(accented), segment_count(accented)) == ("UCS-2", 2)
    converted = to_gsm7_friendly(accented)
    assert converted == plain
    assert (encoding(converted), segment_count(converted)) == ("GSM-7", 1)


@pytest.mark.parametrize("n", [1, 70, 100, 153, 160, 161, 306, 307, 1000])
def test_segment_count_without_extension_chars_matches_simple_ceil(n: int) -> None:
    gsm = "b" * n
    ucs = "ô" * n
    assert segment_count(gsm) == (1 if n <= 160 else math.ceil(n / 153))
    assert segment_count(ucs) == (1 if n <= 70 else math.ceil(n / 67))


# --- to_gsm7_friendly ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Basic-set letters stay.
        ("é è à ù É Ç ì ò", "é è à ù É Ç ì ò"),
        ("ä ö ñ ü Ä Ö Ñ Ü æ Æ ß ø Ø å Å", "ä ö ñ ü Ä Ö Ñ Ü æ Æ ß ø Ø å Å"),
        # Lowercase replacements.
        ("ê â î ô û ç ë ï ÿ", "e a i o u c e i y"),
        ("fenêtre", "fenetre"),
        ("garçon", "garcon"),
        ("Noël", "Noel"),
        ("cœur", "coeur"),
        ("ŒUVRE", "OEUVRE"),
        # Uppercase replacements.
        ("À Â È Ê Ë Î Ï Ô Ù Û", "A A E E E I I O U U"),
        ("À demain", "A demain"),
        # Punctuation.
        ("l’atelier", "l'atelier"),
        ("‘oui’", "'oui'"),
        ("“oui”", '"oui"'),
        ("« Bonjour »", '"Bonjour"'),
        (f"«{NBSP}Bonjour{NBSP}»", '"Bonjour"'),
        (f"Il a dit «{NNBSP}oui{NNBSP}» hier", 'Il a dit "oui" hier'),
        ("«oui»", '"oui"'),
        ("Attendez…", "Attendez..."),
        ("9h–12h", "9h-12h"),
        ("oui — non", "oui - non"),
        # Unicode spaces become ordinary spaces (Babel formats use them).
        (f"1{NNBSP}234,56{NBSP}€", "1 234,56 €"),
        (f"Bonjour{NNBSP}!", "Bonjour !"),
        ("a\u2009b\u2003c", "a b c"),
        # Already GSM-7: unchanged.
        ("Rendez-vous lundi à 9h, salle B.", "Rendez-vous lundi à 9h, salle B."),
        ("", ""),
        # Decomposed accents are recomposed or stripped.
        ("e\u0301cole", "école"),
        ("fe\u0302te", "fete"),
        # Other accented Latin letters lose only their accent.
        ("João Sánchez", "Joao Sanchez"),
        ("Nguyễn", "Nguyen"),
    ],
)
def test_to_gsm7_friendly(text: str, expected: str) -> None:
    result = to_gsm7_friendly(text)
    assert result == expected
    assert is_gsm7(result)


@pytest.mark.parametrize(
    "text",
    [
        ARABIC,
        "موعدك غدا الساعة ٩",
        "مَرْحَبًا",  # with harakat (combining marks)
        "أهلا وسهلا",  # hamza forms must not lose their hamza
        EMOJI,
        "❤️",  # heart + variation selector
        "Привет",
        "x \u0301y",  # a stray combining mark is not dropped
        "你好",
    ],
)
def test_to_gsm7_friendly_leaves_unmappable_text_untouched(text: str) -> None:
    result = to_gsm7_friendly(text)
    assert result == text
    assert encoding(result) == "UCS-2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Fenêtre {EMOJI}", f"Fenetre {EMOJI}"),
        (f"« {ARABIC} »", f'"{ARABIC}"'),
        (f"{ARABIC} l’atelier", f"{ARABIC} l'atelier"),
    ],
)
def test_to_gsm7_friendly_maps_what_it_can_and_keeps_the_rest(text: str, expected: str) -> None:
    result = to_gsm7_friendly(text)
    assert result == expected
    assert encoding(result) == "UCS-2"


def test_to_gsm7_friendly_makes_a_typical_french_message_one_gsm7_segment() -> None:
    text = (
        f"Bonjour Zoé ! Votre atelier « CV & lettre » est prévu à 14{NNBSP}h, "
        "fenêtre côté cour. C’est gratuit… À bientôt."
    )
    assert encoding(text) == "UCS-2"
    assert segment_count(text) == 2
    result = to_gsm7_friendly(text)
    assert result == (
        'Bonjour Zoé ! Votre atelier "CV & lettre" est prévu à 14 h, '
        "fenetre coté cour. C'est gratuit... A bientot."
    )
    assert encoding(result) == "GSM-7"
    assert segment_count(result) == 1


# --- split_message ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("", 1600),
        ("Bonjour", 1600),
        ("x" * 1600, 1600),
        ("a\n\nb", 4),
        ("  espaces  ", 11),
    ],
)
def test_split_message_returns_text_unchanged_when_it_fits(text: str, limit: int) -> None:
    assert split_message(text, limit) == [text]


P1, P2, P3 = "A" * 40, "B" * 40, "C" * 40


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # Paragraph boundaries first, packing as many whole paragraphs as fit.
        (f"{P1}\n\n{P2}\n\n{P3}", 100, [f"{P1}\n\n{P2}", P3]),
        (f"{P1}\n\n{P2}\n\n{P3}", 60, [P1, P2, P3]),
        # A paragraph boundary wins over a later line break or space.
        (f"{P1}\n\n{P2}\n{P3} x", 100, [P1, f"{P2}\n{P3} x"]),
        # \r\n\r\n and blank lines with spaces are paragraph boundaries too.
        (f"{P1}\r\n \r\n{P2}\r\n\r\n{P3}", 60, [P1, P2, P3]),
        # Then line breaks.
        (f"{P1}\n{P2}\n{P3}", 100, [f"{P1}\n{P2}", P3]),
        # Then sentence ends (kept with their sentence).
        ("Un. Deux ! Trois ? Quatre.", 20, ["Un. Deux ! Trois ?", "Quatre."]),
        ("Il a dit « oui. » Puis rien.", 20, ["Il a dit « oui. »", "Puis rien."]),
        # Then spaces.
        ("alpha beta gamma delta", 12, ["alpha beta", "gamma delta"]),
        # Hard cut only as a last resort.
        ("x" * 250, 100, ["x" * 100, "x" * 100, "x" * 50]),
        ("ab " + "x" * 12, 10, ["ab", "x" * 10, "xx"]),
        # Surrounding whitespace never yields an empty part.
        (" \n\nabc defgh\n", 8, ["abc", "defgh"]),
        ("\n\n\nabc\n\n\n\ndefgh  ", 8, ["abc", "defgh"]),
    ],
)
def test_split_message(text: str, limit: int, expected: list[str]) -> None:
    assert split_message(text, limit) == expected


def _long_french_text() -> str:
    """Return a multi-paragraph text of about 4,000 characters."""
    sentence = "Votre atelier « Préparer son entretien » a lieu jeudi à 9h30, salle 2. "
    paragraphs = [(f"Paragraphe {i}.\n" + sentence * (3 + i % 5)).strip() for i in range(14)]
    return "\n\n".join(paragraphs)


def test_split_message_default_limit_keeps_every_character_and_paragraph() -> None:
    text = _long_french_text()
    assert len(text) > 3200
    parts = split_message(text)
    assert len(parts) >= 3
    assert all(0 < len(part) <= 1600 for part in parts)
    assert _non_space("".join(parts)) == _non_space(text)
    # Every part is made of whole paragraphs.
    paragraphs = text.split("\n\n")
    assert [p for part in parts for p in part.split("\n\n")] == paragraphs


@pytest.mark.parametrize("limit", [1, 7, 33, 80, 160, 500])
def test_split_message_respects_limit_and_loses_nothing(limit: int) -> None:
    text = _long_french_text() + "\n\n" + "y" * 700 + f" {EMOJI}{ARABIC}"
    parts = split_message(text, limit)
    assert all(0 < len(part) <= limit for part in parts)
    assert _non_space("".join(parts)) == _non_space(text)


def test_split_message_does_not_break_words_when_spaces_allow() -> None:
    text = " ".join(f"mot{i:03d}" for i in range(400))
    parts = split_message(text, 50)
    assert all(len(part) <= 50 for part in parts)
    assert [w for part in parts for w in part.split()] == text.split()


def test_split_message_hard_cut_keeps_accent_with_its_letter() -> None:
    text = "e\u0301" * 30  # decomposed é
    parts = split_message(text, 7)
    assert all(len(part) <= 7 for part in parts)
    assert "".join(parts) == text
    assert all(not part.startswith("\u0301") for part in parts)


def test_split_message_overlong_whitespace_only() -> None:
    assert split_message(" " * 20, 5) == [""]


@pytest.mark.parametrize("limit", [0, -1])
def test_split_message_rejects_non_positive_limit(limit: int) -> None:
    with pytest.raises(ValueError):
        split_message("abc", limit)
