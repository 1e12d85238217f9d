"""The alias vault: the one place a tip is linked to the person who sent it.

Every tip gets an entry (`AliasVaultEntry`), anonymous or not, so that replies, status news
and "my tips" work one way for both. The entry holds the contact's id and identity hash
sealed under the ``alias-vault`` key, and ``tipster_key`` — a keyed hash of the contact's
identity hash — so a person's own tips can be found from their contact without anything in
the table naming them. Officers never get the contact: they call `tell_tipster`, and the
vault plans the message to whoever it is.

Revealing who sent an anonymous tip is a separate action: a `RevealRequest` with a reason,
approved by a second supervisor who is not the requester, every step audited; only the
approved requester is then told the identity.

When the tipster erases themselves ("delete me"), `forget_tipster` deletes their entries: the
tips stay (they are police records), but nobody can reach or name their sender any more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from communepol.crypto import DecryptionError, Keyring
from communepol.db.models import AliasVaultEntry, Contact, DeliveryKind, Tip
from communepol.ports import OutboundMessage
from communepol.services import outbox
from communepol.services.outbox import Planned

BOX = "alias-vault"
TIPSTER = "tipster"


def tipster_key(keyring: Keyring, contact: Contact) -> str:
    return keyring.keyed_hash(TIPSTER, contact.identity_hash)


async def deposit(
    keyring: Keyring, tip: Tip, contact: Contact, *, household_id: int | None = None
) -> None:
    """Seal the link from ``tip`` to ``contact`` (inside the intake's transaction), and for an
    anonymous tip from a shared household account, the household it is about."""
    value: dict[str, Any] = {"contact_id": contact.id, "identity_hash": contact.identity_hash}
    if household_id is not None:
        value["household_id"] = household_id
    sealed = keyring.box(BOX).seal_json(value)
    await AliasVaultEntry.create(tip=tip, sealed=sealed, tipster_key=tipster_key(keyring, contact))


async def _opened(keyring: Keyring, tip_id: int) -> dict[str, Any] | None:
    """The tip's vault entry, opened; None when there is none or it cannot be opened."""
    entry = await AliasVaultEntry.get_or_none(tip_id=tip_id)
    if entry is None:
        return None
    try:
        value: dict[str, Any] = keyring.box(BOX).open_json(entry.sealed)
    except DecryptionError:
        return None
    return value


async def tipster_of(keyring: Keyring, tip_id: int) -> Contact | None:
    """The contact behind ``tip_id``, if they can still be reached (not erased, same person).
    Only this module's callers that send to the tipster, and an approved reveal, use it."""
    value = await _opened(keyring, tip_id)
    if value is None:
        return None
    contact = await Contact.get_or_none(id=int(value["contact_id"]), erased_at__isnull=True)
    if contact is None or contact.identity_hash != value.get("identity_hash"):
        return None
    return contact


async def household_of(keyring: Keyring, tip_id: int) -> int | None:
    """The household an anonymous tip from a shared account is about (an approved reveal)."""
    value = await _opened(keyring, tip_id)
    household = value.get("household_id") if value is not None else None
    return int(household) if household is not None else None


async def tip_ids_of(keyring: Keyring, contact: Contact) -> list[int]:
    """The ids of the tips ``contact`` sent, newest first."""
    rows: list[Any] = await AliasVaultEntry.filter(
        tipster_key=tipster_key(keyring, contact)
    ).values_list("tip_id", flat=True)
    return sorted((int(tip_id) for tip_id in rows), reverse=True)


async def forget_tipster(keyring: Keyring, contact: Contact) -> int:
    """Drop every link from tips to ``contact``; how many."""
    return await AliasVaultEntry.filter(tipster_key=tipster_key(keyring, contact)).delete()


Compose = Callable[[str | None], OutboundMessage]  # the person's stored language → message


async def tell_tipster(keyring: Keyring, tip: Tip, compose: Compose, dedup: str) -> bool:
    """Plan ``compose(locale) -> OutboundMessage`` to the person who sent ``tip``, as a reply
    (sent first). False when they cannot be reached any more (erased, or the link dropped)."""
    contact = await tipster_of(keyring, tip.id)
    if contact is None:
        return False
    message: OutboundMessage = compose(contact.locale)
    return await outbox.enqueue(
        Planned(
            channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
            message=message,
            kind=DeliveryKind.REPLY,
            dedup_key=f"tip:{tip.id}:{dedup}",
            contact_id=contact.id,
            tip_id=tip.id,
        )
    )
