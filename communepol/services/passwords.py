"""Staff web passwords: hashing, and the one policy every new password passes (ASVS 5.0 6.2).

`check_new_password` is called wherever a person chooses a password — the CLI
(``communepol admin create``, ``communepol staff password``) and the admin web's password
change, including the change forced after an initial password — and refuses, with a message
safe to show, a password that is:

- shorter than 12 or longer than 128 characters (any characters count, spaces and Vietnamese
  letters included; there are no composition rules, 6.2.1/6.2.9/6.2.5);
- one of the 30,000 most common passwords (zxcvbn's ``passwords`` list, compared without
  regard to case, 6.2.4);
- made of context words: the person's username and name, their unit's name, the service's
  name and words like "công an" — with or without diacritics, digits and punctuation
  (6.2.11);
- found in a breach, when ``COMMUNEPOL_PWNED_PASSWORDS_URL`` names a Pwned Passwords range
  API (6.2.12). Only the first five hex digits of the password's SHA-1 leave the server, the
  answer is padded, and when the service cannot be reached the change goes ahead on the local
  checks, with a warning in the log that names neither the password nor its hash.

Initial passwords (given from the roster) are random and are not checked: nobody chose them.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable

import aiohttp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from communepol.errors import ValidationError
from communepol.i18n import _

log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
# Words anyone would try against a police station's web login, folded (see `_fold`).
SERVICE_WORDS = (
    "communepol",
    "congan",
    "conganxa",
    "canhsat",
    "police",
    "admin",
    "matkhau",
    "password",
)
# What is left of a password once its context words are taken out — fewer letters than this
# and the password is those words dressed up with digits and punctuation.
CONTEXT_REST_MIN_LETTERS = 4
PWNED_TIMEOUT_SECONDS = 5.0

TOO_SHORT = _("A password needs at least 12 characters.")
TOO_LONG = _("A password may have at most 128 characters.")
COMMON = _("This password is one of the most common passwords. Choose another.")
CONTEXT = _(
    "This password is made of your name, your username, your unit or the service's name. "
    "Choose another."
)
BREACHED = _("This password has appeared in a data breach. Choose another.")

_COMMON_PASSWORDS = frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``; the length is checked again here as a last guard
    (the rest of the policy is `check_new_password`'s)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationError(TOO_SHORT, field="password")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# Letters and digits nobody confuses when reading a password aloud or copying it from a
# screen: no 0/O, 1/I/L; upper case only.
GENERATED_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GENERATED_GROUPS = 4
GENERATED_GROUP_LENGTH = 5


def generate_password() -> str:
    """A random password of about 99 bits (20 symbols of 31) in four groups of five, like
    "K7PQX-3MZRT-W9HNA-BCE4F": easy to read out over a phone and to type on one."""
    return "-".join(
        "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_GROUP_LENGTH))
        for _ in range(GENERATED_GROUPS)
    )


def _fold(text: str) -> str:
    """Lower case, without diacritics (đ is d), letters and digits only: "Công An!" is
    "congan"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("đ", "d"))
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def context_words(*texts: str | None) -> list[str]:
    """The folded words of a username, a name or a unit name, and the service's own words."""
    words = set(SERVICE_WORDS)
    for text in texts:
        for part in re.split(r"[\s._\-'’]+", text or ""):
            folded = _fold(part)
            if len(folded) >= 2:
                words.add(folded)
        whole = _fold(text or "")
        if len(whole) >= 2:
            words.add(whole)
    return sorted(words, key=len, reverse=True)  # longest first: "conganxa" before "congan"


def made_of_context_words(password: str, words: Iterable[str]) -> bool:
    rest = _fold(password)
    found = False
    for word in words:
        if word in rest:
            found = True
            rest = rest.replace(word, " ")
    letters = sum(1 for ch in rest if ch.isalpha())
    return found and letters < CONTEXT_REST_MIN_LETTERS


def check_password_locally(password: str, *, context: Iterable[str | None] = ()) -> None:
    """The checks that need no network: length, the common list, context words."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValidationError(TOO_SHORT, field="password")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise ValidationError(TOO_LONG, field="password")
    if password.casefold() in _COMMON_PASSWORDS or password.strip().casefold() in (
        _COMMON_PASSWORDS
    ):
        raise ValidationError(COMMON, field="password")
    if made_of_context_words(password, context_words(*context)):
        raise ValidationError(CONTEXT, field="password")


class PwnedPasswords:
    """A client of the Pwned Passwords range API at ``base_url`` (k-anonymity: ``GET
    /range/{first five hex digits of the SHA-1}`` answers ``SUFFIX:COUNT`` lines; with
    ``Add-Padding: true`` it adds lines of count 0 so the answer's size says nothing)."""

    def __init__(self, base_url: str, *, timeout: float = PWNED_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def breached(self, password: str) -> bool | None:
        """Whether ``password`` is in a known breach; None when the service cannot tell."""
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest()
        prefix, suffix = digest[:5].upper(), digest[5:].upper()
        try:
            async with (
                aiohttp.ClientSession(timeout=self.timeout) as session,
                session.get(
                    f"{self.base_url}/range/{prefix}", headers={"Add-Padding": "true"}
                ) as response,
            ):
                if response.status != 200:
                    log.warning(
                        "the breached-password service answered HTTP %s; only the local "
                        "password checks applied",
                        response.status,
                    )
                    return None
                body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as err:
            log.warning(
                "the breached-password service could not be reached (%s); only the local "
                "password checks applied",
                type(err).__name__,
            )
            return None
        for line in body.splitlines():
            found, _sep, count = line.strip().partition(":")
            if found.upper() == suffix:
                return count.strip().isdigit() and int(count) > 0
        return False


def pwned_passwords(base_url: str) -> PwnedPasswords | None:
    """The client for ``COMMUNEPOL_PWNED_PASSWORDS_URL``; None when the check is off."""
    return PwnedPasswords(base_url) if base_url else None


async def check_new_password(
    password: str,
    *,
    context: Iterable[str | None] = (),
    breaches: PwnedPasswords | None = None,
) -> None:
    """Refuse (`ValidationError`, field ``password``) a password a person may not choose;
    ``context`` is their username, full name and unit name."""
    check_password_locally(password, context=context)
    if breaches is not None and await breaches.breached(password):
        raise ValidationError(BREACHED, field="password")
