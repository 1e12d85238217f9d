"""Shared household accounts: several households behind one account.

Where few people own a smartphone, 5–10 households agree that one person's account receives the
station's posts for all of them. Here that is a `HouseholdGroup`:

- **Create** (`create_group`, by staff, in their scope): a name and the households of one
  commune; the officer gets a one-time **link code** (`LinkPurpose.HOUSEHOLD_GROUP`, 7 days).
- **Link** (`link_representative`): the representative sends the code to the bot; their contact
  becomes a shared household account and the group's representative. A code works once and
  expires; a wrong, used or expired code is one answer.
- **Confirm** (`confirm_member`): the representative says, household by household, whether it
  agreed. Agreeing is that household's consent (a `ConsentRecord` of purpose
  ``shared_account`` with its ``household_id``); not agreeing takes it out of the group. Only a
  confirmed household counts as reached through the shared account (`coverage`).
- **Hand over** (`issue_handover_code` by staff, `representative_handover_code` by the
  representative): a new code; whoever uses it becomes the representative, the old one stops
  being it, and each household must be confirmed again for the new account — they agreed to be
  reached through a person, not through whichever account holds the group.
- **Add, remove** (`add_member`, `remove_member` by staff; `representative_remove` by the
  representative, for a household that moved away).
- **Own account** (`issue_own_account_code`, `link_own_account`): a household that now has its
  own phone gets a code of its own; linking it makes that contact the household's own and the
  household leaves its group.

Tips from a shared account say which household they are about (`households_for_tip`); posts
that must reach every household — and every alert — carry a button "I have told the
households" to the shared account, and `confirm_relay` records, per household, that it was
told (`HouseholdRelayConfirmation`).

Every change is audited; staff act through `scope` (outside it is `NotFound`), a representative
only on the groups they represent. ``staff=None`` is the server's operator (`communepol
households …`), who acts as an administrator and is audited as "cli".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    ConsentPurpose,
    Contact,
    ContactKind,
    Delivery,
    Follow,
    FollowStatus,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    HouseholdRelayConfirmation,
    LinkCode,
    LinkPurpose,
    Page,
    Publication,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import N_, I18n, _
from communepol.ports import Button, OutboundMessage
from communepol.services import audit, scope
from communepol.services.contacts import record_consent
from communepol.services.fanout import RELAY_SUFFIX
from communepol.services.outbox import FROM_PUBLICATION
from communepol.services.staff import consume_link_code, generate_link_code, normalize_link_code
from communepol.text import clean

GROUP_CODE_TTL = timedelta(days=7)
HOUSEHOLD_CODE_TTL = timedelta(days=7)
MAX_MEMBERS = 30  # households behind one account (5–10 is what stations do)
CONSENT_TEXT = "shared-account-2026-12"  # the version of what the representative asks
RECENT_DELIVERIES = 50  # messages looked through for the latest one asking for a relay


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Member:
    id: int  # the membership's id (buttons carry it)
    household: Household
    hamlet_name: str
    confirmed: bool


@dataclass(frozen=True)
class GroupView:
    group: HouseholdGroup
    commune: Unit
    members: list[Member]  # current members (not removed), confirmed or not

    @property
    def linked(self) -> bool:
        return self.group.representative_id is not None  # type: ignore[attr-defined]

    @property
    def confirmed(self) -> list[Member]:
        return [member for member in self.members if member.confirmed]

    @property
    def pending(self) -> list[Member]:
        return [member for member in self.members if not member.confirmed]


def _connection() -> str:
    return raw.connection(HouseholdGroup).connection_name


async def _issue(
    keyring: Keyring,
    purpose: LinkPurpose,
    *,
    group: HouseholdGroup | None = None,
    household: Household | None = None,
    created_by: Staff | None,
    ttl: timedelta,
    now: datetime,
) -> IssuedCode:
    code = generate_link_code()
    await LinkCode.create(
        code_hash=keyring.link_code_hash(code),
        purpose=purpose,
        household_group=group,
        household=household,
        created_by=created_by,
        created_at=now,
        expires_at=now + ttl,
    )
    return IssuedCode(code, now + ttl)


async def _view(group: HouseholdGroup) -> GroupView:
    commune = await Unit.get(id=group.unit_id)  # type: ignore[attr-defined]
    rows = (
        await HouseholdGroupMember.filter(group_id=group.id, removed_at__isnull=True)
        .select_related("household__hamlet")
        .order_by("household__hamlet__name", "household__head_name", "id")
    )
    members = [
        Member(
            row.id,
            row.household,
            row.household.hamlet.name,
            row.consent_confirmed_at is not None,
        )
        for row in rows
    ]
    return GroupView(group, commune, members)


# --- staff ---------------------------------------------------------------------------------------


async def _require(staff: Staff | None, unit: Unit) -> None:
    """``unit`` in ``staff``'s scope (``None``: the server's operator, who sees everything)."""
    if staff is not None:
        await scope.require_unit(staff, unit)


async def _commune(staff: Staff | None, commune_id: int) -> Unit:
    commune = await Unit.get_or_none(id=commune_id)
    if commune is None:
        raise NotFound("not found")
    await _require(staff, commune)
    if commune.level is not UnitLevel.COMMUNE:
        raise ValidationError(_("a household group belongs to a commune or ward"), field="commune")
    return commune


async def access_group(staff: Staff | None, group_id: int) -> HouseholdGroup:
    """The group if its commune is in ``staff``'s scope; `NotFound` otherwise."""
    group = await HouseholdGroup.get_or_none(id=group_id).select_related("unit")
    if group is None:
        raise NotFound("not found")
    await _require(staff, group.unit)
    return group


async def _households_of(commune: Unit, household_ids: Sequence[int]) -> list[Household]:
    wanted = list(dict.fromkeys(int(value) for value in household_ids))
    found = await Household.filter(id__in=wanted, hamlet__parent_id=commune.id)
    if len(found) != len(wanted):
        raise ValidationError(
            _("every household must be one of {commune}'s"),
            field="households",
            commune=commune.name,
        )
    return found


async def _refuse_members_elsewhere(households: Sequence[Household], group_id: int = 0) -> None:
    taken = (
        await HouseholdGroupMember.filter(
            household_id__in=[household.id for household in households],
            removed_at__isnull=True,
            group__active=True,
        )
        .exclude(group_id=group_id)
        .select_related("household", "group")
        .first()
    )
    if taken is not None:
        raise Conflict(
            _("the household of {head} is already in the group {group!r}; remove it there first"),
            head=taken.household.head_name,
            group=taken.group.name,
        )


async def create_group(
    keyring: Keyring,
    staff: Staff | None,
    commune_id: int,
    name: str,
    household_ids: Sequence[int],
    *,
    source: str = "bot",
    now: datetime | None = None,
) -> tuple[HouseholdGroup, IssuedCode]:
    """A new group of ``household_ids`` (households of the commune) and its link code."""
    now = now or utcnow()
    commune = await _commune(staff, commune_id)
    title = clean(name)
    if not title or len(title) > 200:
        raise ValidationError(_("give the group a name of at most 200 characters"), field="name")
    if not household_ids:
        raise ValidationError(_("choose the households of the group"), field="households")
    households = await _households_of(commune, household_ids)
    if len(households) > MAX_MEMBERS:
        raise ValidationError(
            _("at most {limit} households share one account"),
            field="households",
            limit=MAX_MEMBERS,
        )
    await _refuse_members_elsewhere(households)
    async with in_transaction(_connection()):
        group = await HouseholdGroup.create(
            unit=commune, name=title, created_by=staff, created_at=now
        )
        for household in households:
            await HouseholdGroupMember.create(group=group, household=household, added_at=now)
        issued = await _issue(
            keyring,
            LinkPurpose.HOUSEHOLD_GROUP,
            group=group,
            created_by=staff,
            ttl=GROUP_CODE_TTL,
            now=now,
        )
        await _audit(
            "household_group.created", group, actor=staff, source=source, households=len(households)
        )
    return group, issued


async def ungrouped(staff: Staff | None, commune_id: int) -> dict[Unit, list[Household]]:
    """The commune's households in no active group, per hamlet (the ones a new group can take)."""
    commune = await _commune(staff, commune_id)
    grouped = await HouseholdGroupMember.filter(
        removed_at__isnull=True, group__active=True, group__unit_id=commune.id
    ).values_list("household_id", flat=True)
    found = (
        await Household.filter(hamlet__parent_id=commune.id)
        .exclude(id__in=list(grouped))
        .select_related("hamlet")
        .order_by("hamlet__name", "head_name", "id")
    )
    result: dict[Unit, list[Household]] = {}
    for household in found:
        result.setdefault(household.hamlet, []).append(household)
    return result


async def groups_of(staff: Staff | None, commune_id: int) -> list[GroupView]:
    """The active groups of a commune in ``staff``'s scope."""
    commune = await _commune(staff, commune_id)
    groups = await HouseholdGroup.filter(unit_id=commune.id, active=True).order_by("name", "id")
    return [await _view(group) for group in groups]


async def group_detail(staff: Staff | None, group_id: int) -> GroupView:
    return await _view(await access_group(staff, group_id))


async def issue_handover_code(
    keyring: Keyring,
    staff: Staff | None,
    group_id: int,
    *,
    source: str = "bot",
    now: datetime | None = None,
) -> IssuedCode:
    """A code for the group's next representative (the first one's too, if the first code was
    lost). Earlier unused codes of the group stop working."""
    now = now or utcnow()
    group = await access_group(staff, group_id)
    if not group.active:
        raise NotFound("not found")
    async with in_transaction(_connection()):
        issued = await _new_group_code(keyring, group, staff, now)
        await _audit("household_group.code_issued", group, actor=staff, source=source)
    return issued


async def _new_group_code(
    keyring: Keyring, group: HouseholdGroup, staff: Staff | None, now: datetime
) -> IssuedCode:
    await LinkCode.filter(
        household_group_id=group.id, used_at__isnull=True, expires_at__gt=now
    ).update(expires_at=now)
    return await _issue(
        keyring,
        LinkPurpose.HOUSEHOLD_GROUP,
        group=group,
        created_by=staff,
        ttl=GROUP_CODE_TTL,
        now=now,
    )


async def add_member(
    staff: Staff | None, group_id: int, household_id: int, *, source: str = "bot"
) -> Member:
    """Add a household of the group's commune; the representative then confirms it."""
    group = await access_group(staff, group_id)
    (household,) = await _households_of(group.unit, [household_id])
    await _refuse_members_elsewhere([household], group.id)
    async with in_transaction(_connection()):
        current = await HouseholdGroupMember.filter(
            group_id=group.id, removed_at__isnull=True
        ).count()
        if current >= MAX_MEMBERS:
            raise ValidationError(
                _("at most {limit} households share one account"),
                field="households",
                limit=MAX_MEMBERS,
            )
        member = await HouseholdGroupMember.get_or_none(
            group_id=group.id, household_id=household.id
        )
        if member is None:
            member = await HouseholdGroupMember.create(group=group, household=household)
        elif member.removed_at is None:
            raise Conflict(_("this household is already in the group"))
        else:
            # Back in the group: it must agree again.
            await HouseholdGroupMember.filter(id=member.id).update(
                removed_at=None, consent_confirmed_at=None, added_at=utcnow()
            )
        await _audit(
            "household_group.member_added",
            group,
            actor=staff,
            source=source,
            household=household.id,
        )
    hamlet = await Unit.get(id=household.hamlet_id)  # type: ignore[attr-defined]
    return Member(member.id, household, hamlet.name, False)


async def remove_member(
    staff: Staff | None, group_id: int, household_id: int, *, source: str = "bot"
) -> None:
    group = await access_group(staff, group_id)
    await _remove(group, household_id, actor=staff, source=source, reason="staff")


async def _remove(
    group: HouseholdGroup,
    household_id: int,
    *,
    actor: Staff | None,
    source: str,
    reason: str,
    contact: Contact | None = None,
    locale: str = "vi",
) -> None:
    async with in_transaction(_connection()):
        removed = await HouseholdGroupMember.filter(
            group_id=group.id, household_id=household_id, removed_at__isnull=True
        ).update(removed_at=utcnow())
        if removed != 1:
            raise NotFound("not found")
        if contact is not None:
            await record_consent(
                contact,
                ConsentPurpose.SHARED_ACCOUNT,
                granted=False,
                text_version=CONSENT_TEXT,
                locale=locale,
                household_id=household_id,
            )
        await _audit(
            "household_group.member_removed",
            group,
            actor=actor,
            source=source,
            household=household_id,
            reason=reason,
        )


async def issue_own_account_code(
    keyring: Keyring,
    staff: Staff | None,
    household_id: int,
    *,
    source: str = "bot",
    now: datetime | None = None,
) -> IssuedCode:
    """A code for a household's own account: whoever sends it to the bot becomes the
    household's own contact, and the household leaves its shared group."""
    now = now or utcnow()
    household = await Household.get_or_none(id=household_id).select_related("hamlet")
    if household is None:
        raise NotFound("not found")
    await _require(staff, household.hamlet)
    async with in_transaction(_connection()):
        issued = await _issue(
            keyring,
            LinkPurpose.HOUSEHOLD,
            household=household,
            created_by=staff,
            ttl=HOUSEHOLD_CODE_TTL,
            now=now,
        )
        await audit.record(
            "household.code_issued",
            actor=staff,
            object_type="household",
            object_id=household.id,
            unit_id=household.hamlet.id,
            source=source,
        )
    return issued


# --- the representative, in the bot -------------------------------------------------------


async def code_purpose(keyring: Keyring, code: str) -> LinkPurpose | None:
    """Which kind of code ``code`` would be, were it valid (the bot's /link reads it to know
    whose code it is; the consuming call still decides whether it works)."""
    found = await LinkCode.get_or_none(code_hash=keyring.link_code_hash(normalize_link_code(code)))
    return found.purpose if found is not None else None


async def link_representative(
    keyring: Keyring, contact: Contact, code: str, *, now: datetime | None = None
) -> GroupView:
    """``contact`` becomes the representative of the group the code was issued for. When the
    group had another representative, this is a handover: the old account stops speaking for
    the households and each must be confirmed again."""
    now = now or utcnow()
    async with in_transaction(_connection()):
        link = await consume_link_code(keyring, code, LinkPurpose.HOUSEHOLD_GROUP, now=now)
        group = await HouseholdGroup.get_or_none(
            id=link.household_group_id,  # type: ignore[attr-defined]
            active=True,
        )
        if group is None:
            raise ValidationError(_("this code is wrong, already used or expired"), field="code")
        previous = group.representative_id  # type: ignore[attr-defined]
        handover = previous is not None and previous != contact.id
        if handover:
            await _release_representative(group, previous, now)
        await HouseholdGroup.filter(id=group.id).update(representative_id=contact.id, linked_at=now)
        await Contact.filter(id=contact.id).update(kind=ContactKind.SHARED_HOUSEHOLD)
        contact.kind = ContactKind.SHARED_HOUSEHOLD
        await group.refresh_from_db()
        await _audit("household_group.linked", group, actor=None, source="bot", handover=handover)
    return await _view(group)


async def _release_representative(group: HouseholdGroup, contact_id: int, now: datetime) -> None:
    """The old representative no longer speaks for the group's households."""
    old = await Contact.get_or_none(id=contact_id)
    members = await HouseholdGroupMember.filter(
        group_id=group.id, removed_at__isnull=True, consent_confirmed_at__isnull=False
    )
    for member in members:
        if old is not None:
            await record_consent(
                old,
                ConsentPurpose.SHARED_ACCOUNT,
                granted=False,
                text_version=CONSENT_TEXT,
                locale=old.locale or "vi",
                household_id=member.household_id,  # type: ignore[attr-defined]
            )
    await HouseholdGroupMember.filter(group_id=group.id).update(consent_confirmed_at=None)
    still = (
        await HouseholdGroup.filter(representative_id=contact_id, active=True)
        .exclude(id=group.id)
        .exists()
    )
    if not still:
        await Contact.filter(id=contact_id).update(kind=ContactKind.PERSON)


async def pages_to_follow(contact: Contact, commune: Unit) -> list[Page]:
    """The commune's pages on this contact's account that it does not follow yet: a shared
    account reaches its households only once it follows one."""
    pages = await Page.filter(
        unit_id=commune.id,
        active=True,
        channels__channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
    ).order_by("id")
    followed = set(
        await Follow.filter(
            contact_id=contact.id, status=FollowStatus.ACTIVE, page_id__in=[p.id for p in pages]
        ).values_list("page_id", flat=True)
    )
    return [] if followed else list({page.id: page for page in pages}.values())


async def represented(contact: Contact) -> list[GroupView]:
    """The active groups ``contact`` represents."""
    groups = await HouseholdGroup.filter(representative_id=contact.id, active=True).order_by("id")
    return [await _view(group) for group in groups]


async def _own_member(
    contact: Contact, member_id: int
) -> tuple[HouseholdGroupMember, HouseholdGroup]:
    member = await HouseholdGroupMember.get_or_none(
        id=member_id, removed_at__isnull=True
    ).select_related("group", "household")
    if (
        member is None or not member.group.active or member.group.representative_id != contact.id  # type: ignore[attr-defined]
    ):
        raise NotFound("not found")
    return member, member.group


async def confirm_member(
    contact: Contact, member_id: int, *, agreed: bool, locale: str = "vi"
) -> GroupView:
    """The representative says whether the household of ``member_id`` agreed to be reached
    through this account; a household that did not agree leaves the group."""
    if not agreed:
        return await _representative_removes(contact, member_id, "did_not_agree", locale)
    member, group = await _own_member(contact, member_id)
    async with in_transaction(_connection()):
        await HouseholdGroupMember.filter(id=member.id).update(consent_confirmed_at=utcnow())
        await record_consent(
            contact,
            ConsentPurpose.SHARED_ACCOUNT,
            granted=True,
            text_version=CONSENT_TEXT,
            locale=locale,
            household_id=member.household_id,  # type: ignore[attr-defined]
        )
        await _audit(
            "household_group.member_confirmed",
            group,
            actor=None,
            source="bot",
            household=member.household_id,  # type: ignore[attr-defined]
        )
    return await _view(group)


async def representative_remove(
    contact: Contact, member_id: int, *, locale: str = "vi"
) -> GroupView:
    """The representative takes a household out (it moved away, it no longer wants it)."""
    return await _representative_removes(contact, member_id, "representative", locale)


async def _representative_removes(
    contact: Contact, member_id: int, reason: str, locale: str
) -> GroupView:
    member, group = await _own_member(contact, member_id)
    await _remove(
        group,
        member.household_id,  # type: ignore[attr-defined]
        actor=None,
        source="bot",
        reason=reason,
        contact=contact,
        locale=locale,
    )
    return await _view(group)


async def representative_handover_code(
    keyring: Keyring, contact: Contact, group_id: int, *, now: datetime | None = None
) -> IssuedCode:
    """The representative hands the group on: a code for the next person's account."""
    now = now or utcnow()
    group = await HouseholdGroup.get_or_none(id=group_id, active=True, representative_id=contact.id)
    if group is None:
        raise NotFound("not found")
    async with in_transaction(_connection()):
        issued = await _new_group_code(keyring, group, None, now)
        await _audit(
            "household_group.code_issued", group, actor=None, source="bot", by="representative"
        )
    return issued


async def link_own_account(
    keyring: Keyring, contact: Contact, code: str, *, now: datetime | None = None
) -> Household:
    """``contact`` becomes the household's own account; the household leaves its group."""
    now = now or utcnow()
    async with in_transaction(_connection()):
        link = await consume_link_code(keyring, code, LinkPurpose.HOUSEHOLD, now=now)
        household = await Household.get_or_none(id=link.household_id)  # type: ignore[attr-defined]
        if household is None:
            raise ValidationError(_("this code is wrong, already used or expired"), field="code")
        await Household.filter(id=household.id).update(own_contact_id=contact.id)
        left = await HouseholdGroupMember.filter(
            household_id=household.id, removed_at__isnull=True
        ).update(removed_at=now)
        await audit.record(
            "household.own_account_linked",
            actor_label="resident",
            object_type="household",
            object_id=household.id,
            unit_id=household.hamlet_id,  # type: ignore[attr-defined]
            source="bot",
            data={"left_group": bool(left)},
        )
    await household.refresh_from_db()
    return household


# --- tips and relays ---------------------------------------------------------------------


async def households_for_tip(contact: Contact) -> list[Member]:
    """The confirmed households ``contact`` speaks for (a tip says which one it is about)."""
    return [member for view in await represented(contact) for member in view.confirmed]


async def check_tip_household(contact: Contact, household_id: int) -> Household:
    """The household a tip from ``contact`` is about: one it speaks for, or `ValidationError`."""
    for member in await households_for_tip(contact):
        if member.household.id == household_id:
            return member.household
    raise ValidationError(_("choose one of the households of this account"), field="household")


RELAY_LABEL = N_("I have told the households")
# For platforms without buttons (a Zalo Bot numbers them, but a broadcast is no conversation
# the number could answer): the word the bot also takes.
RELAY_HINT = N_(
    "This account speaks for several households: please tell each of them. When you have, "
    "press “I have told the households” or reply “told”."
)


def needs_relay(*, alert: bool, must_reach_every_household: bool) -> bool:
    """Whether a publication asks shared accounts to confirm they told each household."""
    return alert or must_reach_every_household


def relay_messages(
    messages: Mapping[str, OutboundMessage], publication_id: int, i18n: I18n
) -> dict[str, dict[str, Any]]:
    """The relay variant of each language's message (stored on the publication under
    ``"<locale>+relay"``): the same message with the button "I have told the households"."""
    return {
        f"{locale}{RELAY_SUFFIX}": dataclasses.replace(
            message,
            text=f"{message.text}\n\n{i18n.gettext(locale, RELAY_HINT)}",
            buttons=(
                *message.buttons,
                (Button(i18n.gettext(locale, RELAY_LABEL), f"rly:{publication_id}"),),
            ),
        ).to_payload()
        for locale, message in messages.items()
    }


@dataclass(frozen=True)
class Relay:
    publication_id: int
    households: list[tuple[Member, bool]]  # each household and whether it was confirmed told

    @property
    def remaining(self) -> list[Member]:
        return [member for member, told in self.households if not told]


async def latest_relay(contact: Contact) -> int | None:
    """The latest publication sent to ``contact`` that asked it to tell its households."""
    rows = (
        await Delivery.filter(contact_id=contact.id, publication_id__isnull=False)
        .order_by("-id")
        .limit(RECENT_DELIVERIES)
        .values_list("publication_id", "payload")
    )
    for publication_id, payload in rows:
        value = payload if isinstance(payload, dict) else json.loads(payload)
        if str(value.get(FROM_PUBLICATION, "")).endswith(RELAY_SUFFIX):
            return int(publication_id)
    return None


async def relay_status(contact: Contact, publication_id: int) -> Relay:
    """The households ``contact`` was to tell about ``publication_id``, and which it has
    confirmed. `NotFound` unless the publication was sent to this shared account."""
    sent = await Delivery.filter(publication_id=publication_id, contact_id=contact.id).exists()
    if not sent or not await Publication.exists(id=publication_id):
        raise NotFound("not found")
    members = await households_for_tip(contact)
    told = set(
        await HouseholdRelayConfirmation.filter(
            publication_id=publication_id,
            household_id__in=[member.household.id for member in members],
        ).values_list("household_id", flat=True)
    )
    return Relay(publication_id, [(member, member.household.id in told) for member in members])


async def confirm_relay(
    contact: Contact, publication_id: int, member_ids: Sequence[int] | None
) -> Relay:
    """Record that ``contact`` told the households of ``member_ids`` (None: all of them)."""
    relay = await relay_status(contact, publication_id)
    wanted = None if member_ids is None else set(member_ids)
    if wanted is not None and not wanted <= {member.id for member, _ in relay.households}:
        raise NotFound("not found")  # not a household of this account: a forged button
    chosen = [member for member in relay.remaining if wanted is None or member.id in wanted]
    for member in chosen:
        await HouseholdRelayConfirmation.get_or_create(
            publication_id=publication_id,
            household_id=member.household.id,
            defaults={"contact_id": contact.id},
        )
    if chosen:
        await audit.record(
            "household.relay_confirmed",
            actor_label="resident",
            object_type="publication",
            object_id=publication_id,
            source="bot",
            data={"households": len(chosen)},
        )
    return await relay_status(contact, publication_id)


async def _audit(
    action: str, group: HouseholdGroup, *, actor: Staff | None, source: str, **data: object
) -> None:
    await audit.record(
        action,
        actor=actor,
        actor_label=None if actor is not None else ("cli" if source == "cli" else "resident"),
        object_type="household_group",
        object_id=group.id,
        unit_id=group.unit_id,  # type: ignore[attr-defined]
        source=source,
        data=dict(data),
    )
