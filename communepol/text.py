"""Text as residents type it: NFC on the way in, folded forms for search.

Vietnamese arrives in NFC or NFD depending on the keyboard; everything stored is NFC
(`clean`). Search compares *folded* text (`fold`): lower case, no diacritics (đ → d), no
apostrophes of any kind (M'Drắk, M’Drắk and Mdrak are one name), single spaces.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = "'’‘ʼ`´"
_INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
# A character class, not str.translate: translate with a deletion table walks every
# character in Python-level dict lookups, several times slower on a typical message.
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def clean(text: str) -> str:
    """NFC, invisible, bidi and other control characters (and lone surrogates) removed, runs
    of spaces collapsed, typographic apostrophes made plain."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", _CONTROL.sub(" ", text)))
    for mark in _APOSTROPHES[1:]:
        text = text.replace(mark, "'")
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """The search form: lower case, diacritics and apostrophes removed, single spaces."""
    decomposed = unicodedata.normalize("NFD", clean(text).lower().replace("đ", "d"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    for mark in _APOSTROPHES:
        bare = bare.replace(mark, "")
    bare = re.sub(r"[^\w\s-]", " ", bare)
    return _SPACES.sub(" ", bare).strip()


def clean_message(text: str) -> str:
    """A message a person typed: NFC and invisible characters removed, but line breaks kept
    (an address or a list of account numbers reads line by line); ends stripped. Control
    characters and lone surrogates (which no database can store as UTF-8) are dropped."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n"))
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


MAX_ID = 2**31 - 1  # row ids are 32-bit columns


def as_id(text: str) -> int | None:
    """``text`` as a row id — ASCII digits naming a 32-bit id — or None. Ids typed after a
    command or carried in a button must never reach the database out of range (PostgreSQL
    refuses an int4 out of range with an error, not with "no row")."""
    bare = text.strip()
    if not (bare.isascii() and bare.isdigit()) or len(bare) > 10:
        return None
    value = int(bare)
    return value if 0 < value <= MAX_ID else None
