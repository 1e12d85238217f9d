"""Derived keys and sealed values: round trips, separation between purposes, tampering."""

from __future__ import annotations

import pytest

from communepol.crypto import DecryptionError, Keyring, derive_key

KEY = "s" * 40


def test_each_purpose_has_its_own_key() -> None:
    assert derive_key(KEY, "alias-vault") != derive_key(KEY, "channel-secrets")
    assert derive_key(KEY, "alias-vault") != derive_key("t" * 40, "alias-vault")


def test_unknown_purpose_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_key(KEY, "everything")


def test_sealed_value_round_trips_and_hides_the_plaintext() -> None:
    box = Keyring(KEY).box("channel-secrets")
    sealed = box.seal_json({"token": "123456:SECRET", "name": "Công an xã"})
    assert "SECRET" not in sealed and "Công" not in sealed
    assert box.open_json(sealed) == {"token": "123456:SECRET", "name": "Công an xã"}


def test_a_value_sealed_for_one_purpose_does_not_open_with_another() -> None:
    keyring = Keyring(KEY)
    sealed = keyring.box("alias-vault").seal("contact 42")
    with pytest.raises(DecryptionError):
        keyring.box("inbox").open(sealed)


def test_tampering_is_detected() -> None:
    box = Keyring(KEY).box("inbox")
    sealed = box.seal("payload")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(DecryptionError):
        box.open(tampered)


def test_identity_hash_is_stable_per_account_and_reveals_nothing() -> None:
    keyring = Keyring(KEY)
    first = keyring.identity_hash(1, "987654321")
    assert first == keyring.identity_hash(1, "987654321")
    assert first != keyring.identity_hash(2, "987654321")
    assert "987654321" not in first and len(first) == 64
