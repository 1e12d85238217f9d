"""Following pages, with consent; stopping; "my data" and "delete me".

A resident asks to follow a page (a deep link, a QR code, the commune's name typed in the bot,
the web page's follow button, a Zalo OA follow) and the follow waits in ``pending_consent``
until they answer the consent screen: agreeing makes it active, declining stops it, and
silence leaves it pending — nothing is ever sent to a pending follow. Each answer is appended
to the consent records with the version of the text they saw and when.

Stopping (one page, or "stop" for all) takes effect before the next send: in the same
transaction the rows of broadcasts and alerts still waiting for them are cancelled, and the
dispatcher re-reads which rows it still holds before each group of sends. "Delete me" erases
what is held about the person (`erase_contact`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.db import raw
from communepol.db.models import (
    ConsentPurpose,
    ConsentRecord,
    Contact,
    ConversationState,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    Unit,
)
from communepol.errors import NotFound
from communepol.services import audit
from communepol.services.contacts import record_consent
from communepol.services.units import match_units
from communepol.text import fold

# The version of the consent text residents see (bots/resident). Change it whenever the text
# changes: each consent record says which text the person agreed to.
CONSENT_TEXT_VERSION = "follow-2026-11"

# Rows a stop cancels: what was broadcast to followers, never a reply they are waiting for.
_FOLLOWER_KINDS = (DeliveryKind.BROADCAST, DeliveryKind.ALERT)
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


async def pages_of_account(account_id: int) -> list[Page]:
    """The active pages a channel account carries, by title."""
    return (
        await Page.filter(channels__channel_account_id=account_id, active=True)
        .select_related("unit")
        .order_by("title")
    )


async def page_for_contact(contact: Contact, page_id: int) -> Page:
    """A page this contact's channel account carries; `NotFound` otherwise (a stale button, a
    link to a page of another province's bot)."""
    page = (
        await Page.filter(
            id=page_id,
            active=True,
            channels__channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
        )
        .select_related("unit")
        .first()
    )
    if page is None:
        raise NotFound("this page is not available here")
    return page


async def find_pages(account_id: int, query: str, *, limit: int = 5) -> list[Page]:
    """Pages of this account whose commune (or page title) matches what the resident typed:
    diacritics, case and a typo or two do not matter ("ea kar", "cu mgar")."""
    pages = await pages_of_account(account_id)
    by_unit: dict[int, list[Page]] = {}
    for page in pages:
        by_unit.setdefault(page.unit.id, []).append(page)
    units: list[Unit] = [unit_pages[0].unit for unit_pages in by_unit.values()]
    found = [page for unit in match_units(query, units) for page in by_unit[unit.id]]
    return found[:limit]


async def pages_named(account_id: int, query: str, *, limit: int = 5) -> list[Page]:
    """What a resident typing a commune's name most likely means: the pages of the one commune
    whose name is exactly what they typed (diacritics, case and the kind word "xã" aside: "ea
    kar" is Ea Kar, even though "Ea Kao" is one typo away), else every `find_pages` match."""
    found = await find_pages(account_id, query, limit=limit)
    typed = _name_key(query)
    exact = {page.unit.id for page in found if typed in _exact_names(page.unit)}
    if len(exact) == 1:
        return [page for page in found if page.unit.id in exact]
    return found


def _name_key(name: str) -> str:
    """A name as the unit search compares it: folded, hyphens as spaces."""
    return " ".join(fold(name).replace("-", " ").split())


def _exact_names(unit: Unit) -> tuple[str, str]:
    """A unit's name as typed exactly, without and with its kind word ("ea kar", "xa ea kar")."""
    return _name_key(unit.name_folded), _name_key(f"{unit.kind} {unit.name_folded}")


async def start_follow(contact: Contact, page: Page, *, source: str = "bot") -> Follow:
    """The resident asked to follow ``page``: a follow waiting for their consent (an active
    follow stays active)."""
    follow, created = await Follow.get_or_create(
        page_id=page.id,
        contact_id=contact.id,
        defaults={"status": FollowStatus.PENDING_CONSENT, "source": source[:32]},
    )
    if not created and follow.status is FollowStatus.STOPPED:
        follow.status = FollowStatus.PENDING_CONSENT
        follow.source = source[:32]
        await follow.save(update_fields=["status", "source"])
    return follow


async def answer_consent(
    contact: Contact, page: Page, *, agree: bool, locale: str, now: datetime | None = None
) -> Follow:
    """Record the resident's answer to the consent screen for ``page``: agree makes the follow
    active, decline stops it. The record keeps the text's version and the time."""
    now = now or utcnow()
    async with in_transaction(raw.connection(Follow).connection_name):
        await record_consent(
            contact,
            ConsentPurpose.FOLLOW,
            granted=agree,
            text_version=CONSENT_TEXT_VERSION,
            locale=locale,
        )
        follow, _ = await Follow.get_or_create(
            page_id=page.id,
            contact_id=contact.id,
            defaults={"status": FollowStatus.PENDING_CONSENT},
        )
        if agree:
            follow.status = FollowStatus.ACTIVE
            follow.followed_at = now
            follow.stopped_at = None
        else:
            follow.status = FollowStatus.STOPPED
            follow.stopped_at = now
            await _cancel_waiting(contact.id, [page.id])
        await follow.save(update_fields=["status", "followed_at", "stopped_at"])
    return follow


async def unfollow(contact: Contact, page_ids: Sequence[int] | None = None) -> list[Page]:
    """Stop following ``page_ids`` (None: every page) and cancel what is still waiting to be
    sent to them from those pages; the pages that were stopped."""
    query = Follow.filter(
        contact_id=contact.id,
        status__in=(FollowStatus.ACTIVE, FollowStatus.PENDING_CONSENT),
    )
    if page_ids is not None:
        query = query.filter(page_id__in=list(page_ids))
    follows = await query.select_related("page")
    if not follows:
        return []
    stopped = [follow.page for follow in follows]
    async with in_transaction(raw.connection(Follow).connection_name):
        await Follow.filter(id__in=[follow.id for follow in follows]).update(
            status=FollowStatus.STOPPED, stopped_at=utcnow()
        )
        if any(follow.status is FollowStatus.ACTIVE for follow in follows):
            await record_consent(
                contact,
                ConsentPurpose.FOLLOW,
                granted=False,
                text_version=CONSENT_TEXT_VERSION,
                locale=contact.locale or "vi",
            )
        await _cancel_waiting(contact.id, None if page_ids is None else [p.id for p in stopped])
    return stopped


async def _cancel_waiting(contact_id: int, page_ids: Sequence[int] | None) -> int:
    """Cancel the broadcast and alert rows still waiting for this contact (from these pages).
    A sender holding one of them drops it before its next group of sends."""
    query = Delivery.filter(contact_id=contact_id, status__in=_WAITING, kind__in=_FOLLOWER_KINDS)
    if page_ids is not None:
        query = query.filter(publication__post__page_id__in=list(page_ids))
        ids = await query.values_list("id", flat=True)
        query = Delivery.filter(id__in=list(ids), status__in=_WAITING)
    return await query.update(
        status=DeliveryStatus.CANCELLED,
        lease_owner=None,
        lease_expires_at=None,
        last_error="consent withdrawn",
    )


async def followed_pages(contact: Contact) -> list[Page]:
    """The pages this contact follows (active follows), by title."""
    return (
        await Page.filter(follows__contact_id=contact.id, follows__status=FollowStatus.ACTIVE)
        .select_related("unit")
        .order_by("title")
    )


async def following(contact_id: int, page_id: int) -> bool:
    return await Follow.exists(contact_id=contact_id, page_id=page_id, status=FollowStatus.ACTIVE)


@dataclass(frozen=True)
class FollowInfo:
    page_title: str
    status: FollowStatus
    since: datetime


@dataclass(frozen=True)
class ConsentInfo:
    granted: bool
    text_version: str
    recorded_at: datetime


@dataclass(frozen=True)
class MyData:
    """Everything held about a contact, as they are shown it ("my data")."""

    channel: str
    locale: str | None
    first_seen: datetime
    last_message_at: datetime | None
    follows: list[FollowInfo]
    consents: list[ConsentInfo]
    messages_waiting: int
    messages_sent: int
    conversation_in_progress: bool


async def my_data(contact: Contact) -> MyData:
    follows = await Follow.filter(contact_id=contact.id).select_related("page").order_by("id")
    consents = await ConsentRecord.filter(contact_id=contact.id).order_by("id")
    deliveries = Delivery.filter(contact_id=contact.id)
    account = await contact.channel_account
    return MyData(
        channel=account.kind.value,
        locale=contact.locale,
        first_seen=contact.created_at,
        last_message_at=contact.last_inbound_at,
        follows=[FollowInfo(f.page.title, f.status, f.followed_at) for f in follows],
        consents=[ConsentInfo(c.granted, c.text_version, c.recorded_at) for c in consents],
        messages_waiting=await deliveries.filter(status__in=_WAITING).count(),
        messages_sent=await deliveries.filter(status=DeliveryStatus.SENT).count(),
        conversation_in_progress=await ConversationState.exists(contact_id=contact.id),
    )


async def erase_contact(contact: Contact, *, now: datetime | None = None) -> None:
    """ "Delete me": their follows, consent records, conversation, language and every message
    planned or sent to them are deleted now. The contact row stays, holding only the sealed
    address, until the confirmation of the erasure has been sent; `purge_erased` then deletes
    it (the ticker runs it)."""
    now = now or utcnow()
    async with in_transaction(raw.connection(Follow).connection_name):
        await Follow.filter(contact_id=contact.id).delete()
        await ConsentRecord.filter(contact_id=contact.id).delete()
        await ConversationState.filter(contact_id=contact.id).delete()
        # A row a sender holds is cancelled (it drops it before its next send) and deleted
        # with the contact; every other row goes now.
        await Delivery.filter(contact_id=contact.id, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.CANCELLED, lease_owner=None, lease_expires_at=None
        )
        await (
            Delivery.filter(contact_id=contact.id).exclude(status=DeliveryStatus.CANCELLED).delete()
        )
        await Contact.filter(id=contact.id).update(
            erased_at=now, locale=None, last_inbound_at=None, last_inbound_message_id=None
        )
        await audit.record(
            "contact.erased", actor_label="resident", object_type="contact", source="bot"
        )
    contact.erased_at = now
    contact.locale = None


_ERASED_AND_DONE = """
SELECT id FROM contact
 WHERE erased_at IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM delivery
                    WHERE delivery.contact_id = contact.id
                      AND delivery.status IN ('pending', 'sending'))
"""


async def purge_erased() -> int:
    """Delete the contacts erased on request once nothing is waiting to be sent to them (their
    remaining rows go with them); how many contacts."""
    ids = [int(row["id"]) for row in await raw.fetch(Contact, _ERASED_AND_DONE)]
    if ids:
        async with in_transaction(raw.connection(Contact).connection_name):
            # The outbox has no foreign keys on PostgreSQL (migration 0006): its rows go first.
            await Delivery.filter(contact_id__in=ids).delete()
            await Contact.filter(id__in=ids, erased_at__not_isnull=True).delete()
    return len(ids)
