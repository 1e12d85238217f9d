"""Telling staff in their bot that something needs them: a post or an alert waiting for their
approval, and the author's post approved or sent back.

A staff member is reached through the bot identities they linked (`StaffIdentity`): each is
the keyed hash of a contact on that account, so the notice is an ordinary outbox row (kind
notification, sent before broadcasts) to that contact, in the staff member's language. Staff
who linked no bot are not reached here; the admin web's queue shows them the same items.
Notices are planned in the caller's transaction, with a dedup key per event and person.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from communepol.db.models import Contact, DeliveryKind, Role, Staff, StaffIdentity, Unit
from communepol.i18n import N_, I18n
from communepol.ports import OutboundMessage
from communepol.services import outbox
from communepol.services.outbox import Planned

APPROVERS = (Role.SUPERVISOR, Role.ADMIN)

POST_WAITING = N_("Post #{id} on {page} waits for your approval: type /approve.")
ALERT_WAITING = N_(
    "Alert #{id} reaches several communes and waits for a second person's approval: type /approve."
)
POST_APPROVED = N_("Your post #{id} was approved.")
POST_REJECTED = N_("Your post #{id} was sent back: {reason}")
ALERT_REJECTED = N_("Your alert #{id} was not approved and will not be sent: {reason}")


@functools.cache
def catalog() -> I18n:
    return I18n.load()


async def approvers_of(units: Sequence[Unit], *, besides: int | None = None) -> list[Staff]:
    """Active supervisors and admins whose scope covers every unit of ``units`` (they sit at
    a common ancestor of them, or above), except ``besides``."""
    common: set[int] | None = None
    for unit in units:
        lineage = {int(part) for part in unit.path.strip("/").split("/") if part} | {unit.id}
        common = lineage if common is None else common & lineage
    if not common:
        return []
    query = Staff.filter(unit_id__in=sorted(common), role__in=APPROVERS, active=True)
    if besides is not None:
        query = query.exclude(id=besides)
    return list(await query)


async def notify(staff: Iterable[Staff], message: str, dedup: str, **params: Any) -> int:
    """Plan ``message`` (a msgid, formatted with ``params`` in each person's language) to every
    bot identity of ``staff``; how many rows were planned."""
    return await send_to_staff(
        staff,
        lambda locale: OutboundMessage(text=catalog().gettext(locale, message, **params)),
        dedup,
    )


async def send_to_staff(
    staff: Iterable[Staff],
    compose: Callable[[str], OutboundMessage],
    dedup: str,
    *,
    tip_id: int | None = None,
) -> int:
    """Plan ``compose(locale)`` — a message with buttons, say — to every bot identity of
    ``staff``, each in their own language; how many rows were planned."""
    people = {member.id: member for member in staff}
    if not people:
        return 0
    identities = await StaffIdentity.filter(staff_id__in=list(people)).values_list(
        "staff_id", "channel_account_id", "identity_hash"
    )
    planned = []
    for staff_id, account_id, identity_hash in identities:
        contact = await Contact.get_or_none(
            channel_account_id=account_id, identity_hash=identity_hash, erased_at__isnull=True
        )
        if contact is None:
            continue
        planned.append(
            Planned(
                channel_account_id=int(account_id),
                message=compose(people[int(staff_id)].locale),
                kind=DeliveryKind.NOTIFICATION,
                dedup_key=f"notice:{dedup}:{contact.id}",
                contact_id=contact.id,
                tip_id=tip_id,
            )
        )
    return await outbox.enqueue_many(planned)
