"""NFC on the way in, folding for search (properties over arbitrary text, and real names)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from communepol.text import clean, fold


@given(st.text())
def test_clean_is_nfc_and_idempotent(text: str) -> None:
    once = clean(text)
    assert unicodedata.is_normalized("NFC", once)
    assert clean(once) == once


@given(st.text())
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


def test_nfc_and_nfd_spellings_are_one_name() -> None:
    nfc = "Nguyễn Thị Hương"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert clean(nfd) == nfc
    assert fold(nfd) == fold(nfc) == "nguyen thi huong"


def test_fold_drops_diacritics_apostrophes_and_case() -> None:
    assert fold("Xã Cư M’gar") == fold("xa cu m'gar") == "xa cu mgar"
    assert fold("Phường  Buôn Ma Thuột") == "phuong buon ma thuot"
    assert fold("Đắk Lắk") == "dak lak"


def test_clean_removes_invisible_and_bidi_characters() -> None:
    assert clean("Ea\u200b Kar\u202e") == "Ea Kar"
