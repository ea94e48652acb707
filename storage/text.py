"""Vietnamese text helpers: cleaning imported cells, accent-free match keys, ASCII codes,
Vietnamese name sorting and detection of text typed in the legacy TCVN3 / VNI fonts.

Everything here is pure Python (no ICU), so it behaves the same on every machine.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["NameKey", "clean", "fold", "looks_like_legacy_encoding", "name_sort_key", "slug"]

# Zero-width characters pasted from web pages and Word; \s already covers NBSP, tabs, newlines.
# U+00AD (soft hyphen) is deliberately absent: it is the letter "ư" in TCVN3 text, and
# looks_like_legacy_encoding needs to see it.
_SPACES = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def clean(value: object) -> str:
    """Cell text as people mean it: NFC, invisible and odd spaces made plain, trimmed."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    # Fast path for the usual cell (imports run this on every cell): isprintable() is False
    # for tabs, newlines, NBSP and the zero-width characters.
    if text.isprintable() and "  " not in text and text[0] != " " and text[-1] != " ":
        return text
    return _SPACES.sub(" ", text).strip()


def fold(s: str) -> str:
    """Accent- and case-free match key: "NGUYỄN Văn  Đức" -> "nguyen van duc".

    NFC alone does not unify tone placement ("Hoà" / "Hòa"), so tones are dropped entirely.
    """
    if s.isascii():
        return " ".join(s.casefold().split())
    decomposed = unicodedata.normalize("NFD", s)
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return " ".join(bare.replace("đ", "d").replace("Đ", "D").casefold().split())


def slug(s: str) -> str:
    """ASCII code for a name: "UBND huyện Mộc Châu" -> "ubnd-huyen-moc-chau"."""
    return _NOT_ALNUM.sub("-", fold(s)).strip("-")


# --- Vietnamese collation -------------------------------------------------------------------

# Vietnamese alphabet order; f j w z (foreign names) sit where the ICU 'vi' collation puts them.
_ALPHABET = "a ă â b c d đ e ê f g h i j k l m n o ô ơ p q r s t u ư v w x y z".split()
_LETTER_RANK = {letter: 100 + i for i, letter in enumerate(_ALPHABET)}
# Marks that make a separate letter (ă â ê ô ơ ư), as opposed to tones.
_LETTER_MARKS = frozenset("\u0306\u0302\u031b")
# Tone order: ngang (none), huyền, hỏi, ngã, sắc, nặng.
_TONE_RANK = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}

_WordKey = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
NameKey = tuple[_WordKey, ...]
"""Per word (given name first): letter ranks, tone ranks, case (lower before upper)."""


def _char_key(ch: str) -> tuple[int, int, int]:
    parts = unicodedata.normalize("NFD", ch)
    base, marks = parts[0], parts[1:]
    lower = base.casefold()
    case = 1 if lower != base else 0
    letter = lower + "".join(m for m in marks if m in _LETTER_MARKS)
    letter = unicodedata.normalize("NFC", letter)
    if letter in _LETTER_RANK:
        primary = _LETTER_RANK[letter]
    elif letter.isdigit():
        primary = int(letter) if letter.isascii() else 10
    else:
        # Anything else after every letter, in code point order.
        primary = 1000 + ord(letter[0])
    tone = next((_TONE_RANK[m] for m in marks if m in _TONE_RANK), 0)
    return primary, tone, case


def _word_key(word: str) -> _WordKey:
    keys = [_char_key(ch) for ch in word]
    return (
        tuple(k[0] for k in keys),
        tuple(k[1] for k in keys),
        tuple(k[2] for k in keys),
    )


def name_sort_key(full_name: str) -> NameKey:
    """Sort key for Vietnamese full names: given name, then middle names, then family name.

    Letters follow the Vietnamese alphabet (d < đ, o < ô < ơ); tones only break ties, in the
    order ngang, huyền, hỏi, ngã, sắc, nặng. Matches ICU's 'vi' collation word by word.
    """
    words = clean(full_name).split(" ")
    if words == [""]:
        return ()
    if len(words) == 1:
        return (_word_key(words[0]),)
    ordered = [words[-1], *words[1:-1], words[0]]
    return tuple(_word_key(w) for w in ordered)


# --- Legacy font encodings ------------------------------------------------------------------

# Characters that never occur inside Vietnamese or English words but fill text typed with
# TCVN3 (.VnTime: "NguyÔn V¨n §øc") or VNI-Windows ("Nguyeãn Vaên Ñöùc") fonts and read as
# Unicode. Letters that are real Vietnamese (à á â ã è é ê ì í ò ó ô õ ù ú ý, upper case too)
# are left out; VNI's use of them is caught by _VNI_PAIRS instead.
_LEGACY_CHARS = frozenset("¡¢£¤¥¦§¨©ª«¬\u00ad®¯°±²³´µ¶·¸¹º»¼½¾¿ÄÅÆÇËÎÏÐÑÖ×ØÛÜÞßäåæçëîïðñö÷øûüþÿ")
# VNI writes a vowel followed by a mark letter: "aê" (ă), "eâ" (ê), "oâ" (ô), "aù" (á)...
# None of these pairs is a Vietnamese spelling ("oà", "oá", "oã" are: Hoà, Hoá, hoãn). Pairs
# whose second letter is already in _LEGACY_CHARS ("aø", "oä") are left to that count.
_VNI_PAIRS = re.compile(r"[aA][âêáàãéèúùõÂÊÁÀÃÉÈÚÙÕ]|[eEoO][âÂ]|[eE][áàãÁÀÃ]")
# Quotes and brackets around a word are not part of it: «Sở Nội vụ» is ordinary Vietnamese.
_WORD_EDGES = "«»\"'“”‘’()[]{}<>,.;:!?"


def looks_like_legacy_encoding(values: Iterable[str]) -> bool:
    """True when the text reads like TCVN3 or VNI-Windows bytes shown as Unicode.

    Counts legacy characters inside words (plus VNI vowel-mark pairs) against all letters;
    a few stray ones (a German "ö" in one name) do not trigger it.
    """
    suspects = 0
    letters = 0
    for value in values:
        if not value or value.isascii():
            letters += sum(ch.isalpha() for ch in value)
            continue
        text = unicodedata.normalize("NFC", value)
        for token in text.split():
            word = token.strip(_WORD_EDGES)
            for ch in word:
                if ch in _LEGACY_CHARS:
                    suspects += 1
                    letters += 1
                elif ch.isalpha():
                    letters += 1
            suspects += len(_VNI_PAIRS.findall(word))
    return suspects >= 3 and suspects >= 0.02 * letters
