"""Keys derived from the one secret key, and the few primitives built on them.

Every purpose gets its own key through HKDF-SHA256 with a distinct ``info`` label, so a key
leaked from one purpose opens nothing else:

- ``channel-secrets``: bot tokens, Zalo OA tokens and webhook secrets at rest;
- ``contact-identity``: a contact's platform user id and display name at rest;
- ``identity-index``: the keyed hash used to *find* a contact by platform id without storing
  that id in clear (`Keyring.identity_hash`);
- ``alias-vault``: the anonymous-tipster alias → contact link;
- ``inbox``: raw inbound platform events, which carry identities and tip text;
- ``link-code``: hashes of one-time link codes;
- ``session``: web session and CSRF tokens.

Encryption is Fernet (AES-128-CBC with HMAC-SHA256, versioned tokens), which authenticates
what it decrypts: a tampered or foreign ciphertext raises `DecryptionError`, never garbage.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from communepol.errors import CommunepolError

PURPOSES = (
    "channel-secrets",
    "contact-identity",
    "identity-index",
    "alias-vault",
    "tipster",
    "tip-attachment",
    "tip-media-link",
    "inbox",
    "link-code",
    "session",
)
_SALT = b"communepol/v1"


class DecryptionError(CommunepolError):
    """A ciphertext was tampered with or sealed under another secret key."""


@functools.lru_cache(maxsize=64)
def derive_key(secret_key: str, purpose: str) -> bytes:
    """32 bytes for ``purpose``, derived from the service's secret key."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=_SALT, info=purpose.encode("ascii")
    ).derive(secret_key.encode("utf-8"))


@dataclass(frozen=True)
class SecretBox:
    """Seal and open small values (text or JSON) under one purpose's key."""

    _fernet: Fernet = field(repr=False)

    @classmethod
    def for_purpose(cls, secret_key: str, purpose: str) -> SecretBox:
        key = derive_key(secret_key, purpose)
        return cls(Fernet(base64.urlsafe_b64encode(key)))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as err:
            raise DecryptionError("stored secret cannot be decrypted with this key") from err

    def seal_json(self, value: Any) -> str:
        return self.seal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def open_json(self, token: str) -> Any:
        return json.loads(self.open(token))


@functools.lru_cache(maxsize=64)
def _box(secret_key: str, purpose: str) -> SecretBox:
    # Deriving a key and building a cipher per message would dominate a busy webhook or a
    # broadcast; both are pure functions of (key, purpose), so each is built once.
    return SecretBox.for_purpose(secret_key, purpose)


@dataclass(frozen=True)
class Keyring:
    """All derived keys of one running service; built once in the composition root."""

    secret_key: str = field(repr=False)

    def box(self, purpose: str) -> SecretBox:
        return _box(self.secret_key, purpose)

    def keyed_hash(self, purpose: str, *parts: str) -> str:
        """A stable, non-reversible 64-hex-digit digest of ``parts`` under ``purpose``."""
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(derive_key(self.secret_key, purpose), message, hashlib.sha256).hexdigest()

    def identity_hash(self, channel_account_id: int, platform_user_id: str) -> str:
        """How a contact is looked up: the platform id itself is never stored in clear."""
        return self.keyed_hash("identity-index", str(channel_account_id), platform_user_id)

    def link_code_hash(self, code: str) -> str:
        return self.keyed_hash("link-code", code)
