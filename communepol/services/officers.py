"""Officers in the bot: linking a bot identity to a staff member, knowing who a contact is,
and the few reads the officer conversation needs (pages in scope, what waits for approval,
live alerts, the latest post).

A bot identity acts for staff only after a one-time link code (`staff.consume_link_code`)
was sent from it. The identity is stored as the same keyed hash a `Contact` carries for that
person on that account, plus a sealed value, so `staff_for_contact` is one indexed lookup and
a database dump names nobody. Linking the same identity again moves it to the code's owner:
one identity acts for one staff member.

Every read here is bounded by `scope`: nothing outside the staff member's units is returned.
`write_post` and `issue_alert` put together the calls one bot confirmation makes, so a refusal
half-way leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    Alert,
    AlertMessageType,
    AlertStatus,
    Contact,
    LinkPurpose,
    Page,
    Post,
    PostStatus,
    Staff,
    StaffIdentity,
    Unit,
)
from communepol.errors import NotFound, ValidationError
from communepol.i18n import _
from communepol.services import alerts, audit, posts, scope
from communepol.services.contacts import ContactIdentity, seal_identity
from communepol.services.staff import consume_link_code
from communepol.services.units import subtree_prefix
from communepol.settings import Settings

LIST_LIMIT = 10  # items one bot message lists
CANDIDATES = 100  # alerts checked target by target for one list


async def link_identity(
    keyring: Keyring, account_id: int, platform_user_id: str, code: str, *, source: str = "bot"
) -> Staff:
    """Link the bot identity ``platform_user_id`` on ``account_id`` to the staff member the
    one-time ``code`` was issued for. A wrong, used or expired code — or one whose owner has
    left the roster — is the same `ValidationError`, so a guesser learns nothing."""
    async with in_transaction(raw.connection(StaffIdentity).connection_name):
        link = await consume_link_code(keyring, code, LinkPurpose.STAFF)
        staff = await Staff.get_or_none(id=link.staff_id, active=True)  # type: ignore[attr-defined]
        if staff is None:
            raise ValidationError(_("this code is wrong, already used or expired"), field="code")
        key = keyring.identity_hash(account_id, platform_user_id)
        sealed = seal_identity(keyring, ContactIdentity(platform_user_id=platform_user_id))
        existing = await StaffIdentity.get_or_none(channel_account_id=account_id, identity_hash=key)
        replaced = existing is not None and existing.staff_id != staff.id  # type: ignore[attr-defined]
        if existing is None:
            await StaffIdentity.create(
                staff=staff,
                channel_account_id=account_id,
                identity_hash=key,
                identity_sealed=sealed,
            )
        else:
            await StaffIdentity.filter(id=existing.id).update(
                staff_id=staff.id, identity_sealed=sealed
            )
        await audit.record(
            "staff.identity_linked",
            actor=staff,
            object_type="staff",
            object_id=staff.id,
            unit_id=staff.unit_id,  # type: ignore[attr-defined]
            source=source,
            data={"channel_account": account_id, "replaced": replaced},
        )
    return staff


async def staff_for_contact(contact: Contact) -> Staff | None:
    """The active staff member this contact's identity is linked to, or None."""
    identity = (
        await StaffIdentity.filter(
            channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
            identity_hash=contact.identity_hash,
            staff__active=True,
        )
        .select_related("staff")
        .first()
    )
    return identity.staff if identity is not None else None


async def unlink(contact: Contact, *, source: str = "bot") -> bool:
    """Stop this contact's identity acting for staff; False when it was not linked."""
    identity = (
        await StaffIdentity.filter(
            channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
            identity_hash=contact.identity_hash,
        )
        .select_related("staff")
        .first()
    )
    if identity is None:
        return False
    await StaffIdentity.filter(id=identity.id).delete()
    await audit.record(
        "staff.identity_unlinked",
        actor=identity.staff,
        object_type="staff",
        object_id=identity.staff.id,
        unit_id=identity.staff.unit_id,  # type: ignore[attr-defined]
        source=source,
        data={"channel_account": identity.channel_account_id},  # type: ignore[attr-defined]
    )
    return True


def _within(unit: Unit, relation: str = "unit") -> Q:
    """``relation`` is ``unit`` or a unit below it."""
    itself: dict[str, Any] = {f"{relation}__id": unit.id}
    below: dict[str, Any] = {f"{relation}__path__startswith": subtree_prefix(unit)}
    return Q(**itself) | Q(**below)


async def _unit_of(staff: Staff) -> Unit:
    return await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]


async def unit_of(staff: Staff) -> Unit:
    """The unit ``staff`` belongs to."""
    return await _unit_of(staff)


async def pages_in_scope(staff: Staff) -> list[Page]:
    """The active pages ``staff`` may post on: their unit's and every page below it."""
    unit = await _unit_of(staff)
    return (
        await Page.filter(_within(unit), active=True).select_related("unit").order_by("title", "id")
    )


async def page_in_scope(staff: Staff, page_id: int) -> Page:
    """One active page in ``staff``'s scope; `NotFound` otherwise."""
    page = await Page.get_or_none(id=page_id, active=True).select_related("unit")
    if page is None:
        raise NotFound("not found")
    await scope.require_unit(staff, page.unit)
    return page


async def write_post(
    staff: Staff,
    page_id: int,
    data: posts.PostInput,
    settings: Settings,
    *,
    photo: tuple[bytes, str] | None = None,
    source: str = "bot",
) -> Post:
    """Create a post, attach its photo (bytes and file name) and submit it, as one change: a
    photo that is refused leaves no draft behind. The submitted post (scheduled, or waiting
    for approval)."""
    async with in_transaction(raw.connection(Post).connection_name):
        post = await posts.create_post(staff, page_id, data, settings, source=source)
        if photo is not None:
            await posts.add_attachment(staff, post.id, photo[0], photo[1], settings, source=source)
        return await posts.submit_post(staff, post.id, settings, source=source)


async def issue_alert(
    staff: Staff,
    data: alerts.AlertInput,
    service: alerts.Alerts,
    *,
    photo: bytes | None = None,
    source: str = "bot",
) -> Alert:
    """Create an alert (with its photo, stripped of metadata) and send it, as one change: out
    now for one commune, waiting for a second person for several."""
    if photo is not None:
        data = replace(data, photo_path=await alerts.store_photo(service.settings, photo))
    async with in_transaction(raw.connection(Alert).connection_name):
        alert = await alerts.create_alert(staff, data, source=source)
        return await service.send(staff, alert.id, source=source)


async def posts_awaiting_approval(staff: Staff, *, limit: int = LIST_LIMIT) -> list[Post]:
    """Posts on pages in ``staff``'s scope waiting for a second person, oldest first, with
    their page, author and translations. Their own posts are left out: nobody approves those."""
    unit = await _unit_of(staff)
    return list(
        await Post.filter(_within(unit, "page__unit"), status=PostStatus.PENDING_APPROVAL)
        .exclude(author_id=staff.id)
        .select_related("page", "author")
        .prefetch_related("translations")
        .order_by("updated_at", "id")
        .limit(limit)
    )


async def alerts_awaiting_approval(staff: Staff, *, limit: int = LIST_LIMIT) -> list[Alert]:
    """Alerts waiting for a second person whose every target is in ``staff``'s scope and which
    ``staff`` did not write, oldest first."""
    waiting = (
        Alert.filter(status=AlertStatus.PENDING_APPROVAL)
        .exclude(created_by_id=staff.id)
        .order_by("created_at", "id")
    )
    return await _visible(staff, waiting, limit)


@dataclass(frozen=True)
class Approvals:
    """What waits for ``staff``'s decision: nothing unless they may approve."""

    approver: bool
    posts: list[Post]
    alerts: list[Alert]


async def approvals(staff: Staff, *, limit: int = LIST_LIMIT) -> Approvals:
    """The posts and alerts waiting for ``staff`` (`posts_awaiting_approval`,
    `alerts_awaiting_approval`); empty for an officer, who approves nothing."""
    if staff.role not in scope.APPROVER_ROLES:
        return Approvals(False, [], [])
    return Approvals(
        True,
        await posts_awaiting_approval(staff, limit=limit),
        await alerts_awaiting_approval(staff, limit=limit),
    )


async def live_alerts(staff: Staff, *, limit: int = LIST_LIMIT) -> list[Alert]:
    """Alerts that are out and not ended, with every target in ``staff``'s scope, newest first."""
    active = Alert.filter(status=AlertStatus.ACTIVE, msg_type=AlertMessageType.ALERT).order_by(
        "-sent_at", "-id"
    )
    return await _visible(staff, active, limit)


async def _visible(staff: Staff, candidates: QuerySet[Alert], limit: int) -> list[Alert]:
    """The first ``limit`` of ``candidates`` whose every target is in ``staff``'s scope. Only
    alerts with a target inside the scope are read; each is then checked by `alerts.get_alert`
    (one target outside the scope is enough to leave an alert out)."""
    unit = await _unit_of(staff)
    touching = _within(unit, "targets__page__unit") | _within(unit, "targets__unit")
    visible: list[Alert] = []
    for alert in await candidates.filter(touching).distinct().limit(CANDIDATES):
        try:
            visible.append(await alerts.get_alert(staff, alert.id))
        except NotFound:
            continue
        if len(visible) == limit:
            break
    return visible


async def latest_post(staff: Staff) -> Post | None:
    """The newest post ``staff`` wrote (alerts' posts aside), or None."""
    return (
        await Post.filter(author_id=staff.id, alert_id=None)
        .prefetch_related("translations")
        .order_by("-id")
        .first()
    )


async def page_count(alert: Alert) -> int:
    """How many pages an alert reaches."""
    return len(await alerts.target_pages(alert))
