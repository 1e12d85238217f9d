"""Contacts: finding or creating the contact behind a platform user, without ever storing the
platform id in clear (see `communepol.db.models.contacts`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ConsentPurpose,
    ConsentRecord,
    Contact,
    ContactKind,
)
from communepol.i18n import SUPPORTED_LOCALES
from communepol.text import clean


@dataclass(frozen=True)
class ContactIdentity:
    """What the platform told us about a person; opened only to send to them."""

    platform_user_id: str
    display_name: str | None = None


def seal_identity(keyring: Keyring, identity: ContactIdentity) -> str:
    value: dict[str, Any] = {"id": identity.platform_user_id}
    if identity.display_name:
        value["name"] = clean(identity.display_name)
    return keyring.box("contact-identity").seal_json(value)


def open_identity(keyring: Keyring, contact: Contact) -> ContactIdentity:
    value = keyring.box("contact-identity").open_json(contact.identity_sealed)
    return ContactIdentity(platform_user_id=str(value["id"]), display_name=value.get("name"))


async def find_or_create_contact(
    keyring: Keyring,
    account: ChannelAccount,
    identity: ContactIdentity,
    *,
    locale: str | None = None,
    kind: ContactKind = ContactKind.PERSON,
) -> tuple[Contact, bool]:
    """The contact for this platform user on this account; ``True`` when it was just created.
    Safe against two first messages arriving at once (the unique index decides)."""
    key = keyring.identity_hash(account.id, identity.platform_user_id)
    existing = await Contact.filter(channel_account_id=account.id, identity_hash=key).first()
    if existing is not None:
        return existing, False
    try:
        contact = await Contact.create(
            channel_account=account,
            identity_hash=key,
            identity_sealed=seal_identity(keyring, identity),
            locale=locale if locale in SUPPORTED_LOCALES else None,
            kind=kind,
        )
    except IntegrityError:
        return await Contact.get(channel_account_id=account.id, identity_hash=key), False
    return contact, True


async def record_consent(
    contact: Contact,
    purpose: ConsentPurpose,
    *,
    granted: bool,
    text_version: str,
    locale: str,
    household_id: int | None = None,
) -> ConsentRecord:
    """Append what the person agreed to (or withdrew), with the version of the text they saw.
    Records are never updated: the latest one for a purpose is the one in force."""
    return await ConsentRecord.create(
        contact=contact,
        purpose=purpose,
        granted=granted,
        text_version=text_version,
        locale=locale,
        household_id=household_id,
    )
