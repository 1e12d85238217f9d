"""Tips: a resident's report from intake to its close, and every officer action on it.

Intake (`Tips.submit`) stores in one transaction the tip, its first message, its attachments
(as platform references the media fetcher downloads later, outside any transaction), the vault
entry linking it to its sender, the routes to other units the unit's routing rules name, its
deadlines (`sla`), its rumour cluster (`rumours`), and the notification cards to the officers
who must act: those **on duty** in the tip's unit and in each routed unit; where nobody is on
duty, every officer of the unit; where the unit has nobody at all, the first-response deadline
is now and the ticker escalates it at once.

Officer actions — acknowledge, take, reply (relayed through the vault), note, resolve, reject,
mark as duplicate — go through `access_tip`, the one place that decides whether a staff member
may see a tip: its unit or one of its routed units must be in their scope (`scope.covers`).
Anything else is `NotFound`, whether it came from a bot command, a forged button payload or
the API. Every change of status is a `TipEvent` with who and when, every action an audit
record, and the resident is told each change in their language.

Nothing here puts a tipster's identity anywhere: officers get the alias (anonymous tips) or the
display name the resident agreed to show, and never a platform id.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    AliasVaultEntry,
    AttachmentStatus,
    Contact,
    DutyShift,
    Household,
    Role,
    RoutingRule,
    Staff,
    Tip,
    TipAttachment,
    TipCategory,
    TipEvent,
    TipMessage,
    TipMessageDirection,
    TipRoute,
    TipStatus,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import _
from communepol.ports import Location, Media, OutboundMessage
from communepol.services import (
    audit,
    breachwatch,
    householdgroups,
    notices,
    rumours,
    scope,
    sla,
    tipcards,
    vault,
)
from communepol.services.contacts import open_identity
from communepol.services.units import subtree_prefix
from communepol.text import MAX_ID, as_id, clean, clean_message

MAX_TEXT = 4000
MAX_DETAIL = 300
MAX_ATTACHMENTS = 10
FLOOD_LIMIT = 10  # tips one person may send within FLOOD_WINDOW
FLOOD_WINDOW = timedelta(hours=1)
LIST_LIMIT = 10
# Reference numbers: letters and digits nobody confuses when reading them over the phone.
REFERENCE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"
REFERENCE_LENGTH = 6
ALIAS_PREFIX = "Người báo tin #"

# Categories that cannot wait: police must move within minutes.
CATEGORY_URGENCY: dict[TipCategory, Urgency] = {
    TipCategory.FIGHT_WEAPONS: Urgency.CRITICAL,
    TipCategory.MISSING_PERSON: Urgency.CRITICAL,
    TipCategory.FRAUD: Urgency.CRITICAL,
    TipCategory.THEFT: Urgency.HIGH,
    TipCategory.DRUGS: Urgency.HIGH,
    TipCategory.ILLEGAL_LENDING: Urgency.NORMAL,
    TipCategory.GAMBLING: Urgency.NORMAL,
    TipCategory.TRAFFIC: Urgency.NORMAL,
    TipCategory.PUBLIC_ORDER: Urgency.NORMAL,
    TipCategory.RUMOUR_CHECK: Urgency.NORMAL,
    TipCategory.PROCEDURE_QUESTION: Urgency.LOW,
    TipCategory.OTHER: Urgency.NORMAL,
}

# The fraud fast path's questions, in the order the bot asks them.
FRAUD_FIELDS = ("bank", "amount", "transfer_time", "accounts")

# Which statuses an action may start from, and where it leads.
_ACK_FROM = (TipStatus.NEW,)
_TAKE_FROM = (TipStatus.NEW, TipStatus.ACKNOWLEDGED, TipStatus.IN_PROGRESS)
_CLOSE_FROM = OPEN_TIP_STATUSES


class TipList(str):
    """Which tips a list shows."""

    OPEN = "open"
    MINE = "mine"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class TipInput:
    """What a resident gave, as the conversation collected it."""

    category: str
    text: str
    unit_id: int
    anonymous: bool = True
    location: Location | None = None
    location_text: str | None = None
    media: Sequence[Media] = ()
    details: Mapping[str, str] = field(default_factory=dict)
    source: str = "bot"
    # From a shared household account: which of its households the tip is about (None: the
    # whole group, or a person's own account).
    household_id: int | None = None


@dataclass(frozen=True)
class Valid:
    category: TipCategory
    text: str
    unit: Unit
    location: Location | None
    location_text: str | None
    details: dict[str, str]


def _category(value: str) -> TipCategory:
    try:
        return TipCategory(value)
    except ValueError as err:
        raise ValidationError(_("unknown tip category"), field="category") from err


async def tip_unit(unit_id: int) -> Unit:
    """The commune a tip belongs to: a hamlet's tip belongs to its commune."""
    unit = await Unit.get_or_none(id=unit_id, active=True)
    if unit is None:
        raise ValidationError(_("choose your commune"), field="unit")
    if unit.level is UnitLevel.HAMLET and unit.parent_id is not None:  # type: ignore[attr-defined]
        return await Unit.get(id=unit.parent_id)  # type: ignore[attr-defined]
    if unit.level is not UnitLevel.COMMUNE:
        raise ValidationError(_("choose your commune"), field="unit")
    return unit


async def validate(data: TipInput) -> Valid:
    category = _category(data.category)
    text = clean_message(data.text)
    if not text and not data.media:
        raise ValidationError(_("write what happened"), field="text")
    if len(text) > MAX_TEXT:
        raise ValidationError(_("at most {limit} characters"), field="text", limit=MAX_TEXT)
    if len(data.media) > MAX_ATTACHMENTS:
        raise ValidationError(_("at most {limit} files"), field="media", limit=MAX_ATTACHMENTS)
    location = data.location
    if location is not None and not (
        -90 <= location.latitude <= 90 and -180 <= location.longitude <= 180
    ):
        raise ValidationError(_("that location is not on the map"), field="location")
    place = clean(data.location_text or "")[:MAX_DETAIL] or None
    details = {
        str(key): clean_message(str(value))[:MAX_DETAIL]
        for key, value in data.details.items()
        if clean_message(str(value))
    }
    return Valid(category, text, await tip_unit(data.unit_id), location, place, details)


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


def new_alias() -> str:
    """ "Người báo tin #A7F3": random, so nothing about the person can be read from it."""
    return f"{ALIAS_PREFIX}{secrets.token_hex(2).upper()}"


def normalize_reference(text: str) -> str:
    """A reference as typed ("#t-7k3m9p", "T7K3M9P" or "7k3m9p")."""
    bare = clean(text).upper().lstrip("#").replace("-", "").replace(" ", "")
    return bare[1:] if len(bare) == REFERENCE_LENGTH + 1 and bare.startswith("T") else bare


def _could_be_reference(text: str) -> bool:
    bare = normalize_reference(text)
    return len(bare) == REFERENCE_LENGTH and all(char in REFERENCE_ALPHABET for char in bare)


def display_reference(tip: Tip) -> str:
    return f"T-{tip.reference}"


# --- who may see a tip -------------------------------------------------------------------------


async def _staff_unit(staff: Staff) -> Unit:
    if not staff.active:
        raise NotFound("not found")
    return await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]


async def scope_q(staff: Staff) -> Q:
    """The tips ``staff`` may see: their unit's subtree, or routed to a unit in it."""
    return await unit_scope_q(await _staff_unit(staff))


async def unit_scope_q(unit: Unit) -> Q:
    """The tips of ``unit``'s subtree and those routed to a unit in it."""
    prefix = subtree_prefix(unit)
    routed = TipRoute.filter(Q(unit_id=unit.id) | Q(unit__path__startswith=prefix)).values_list(
        "tip_id", flat=True
    )
    return Q(unit_id=unit.id) | Q(unit__path__startswith=prefix) | Q(id__in=await routed)


async def access_tip(
    staff: Staff, ref: int | str, *, source: str = "bot", ip: str | None = None
) -> Tip:
    """The tip ``ref`` (its id, or its reference as typed) if ``staff`` may see it; `NotFound`
    otherwise — the same answer as for a tip that does not exist. A tip that exists outside
    the scope is recorded (`breachwatch.record_refused`, ``source`` and ``ip`` with it): many
    such attempts raise a security alert."""
    await _staff_unit(staff)  # a deactivated account finds nothing, existing or not
    tip = None
    text = ref if isinstance(ref, str) else ""
    if text and (not text.isdigit() or _could_be_reference(text)):
        # "347934" is a reference too (3, 4, 7 and 9 are in its alphabet): that comes first.
        tip = await Tip.get_or_none(reference=normalize_reference(text)).prefetch_related("unit")
    row_id = ref if isinstance(ref, int) else as_id(text)
    if tip is None and row_id is not None and 0 < row_id <= MAX_ID:
        tip = await Tip.get_or_none(id=row_id).prefetch_related("unit")
    if tip is None:
        raise NotFound("not found")
    if await scope.covers(staff, tip.unit):
        return tip
    routes = await TipRoute.filter(tip_id=tip.id).prefetch_related("unit")
    for route in routes:
        if await scope.covers(staff, route.unit):
            return tip
    await breachwatch.record_refused(staff, tip, source=source, ip=ip)
    raise NotFound("not found")


async def list_tips(
    staff: Staff, which: str = TipList.OPEN, *, limit: int = LIST_LIMIT
) -> list[Tip]:
    """Open tips in ``staff``'s scope, most urgent deadline first: all of them (``open``),
    those assigned to them (``mine``) or those past a deadline (``overdue``)."""
    query: QuerySet[Tip] = Tip.filter(await scope_q(staff), status__in=OPEN_TIP_STATUSES)
    if which == TipList.MINE:
        query = query.filter(assignee_id=staff.id)
    elif which == TipList.OVERDUE:
        now = utcnow()
        query = query.filter(
            Q(first_response_at__isnull=True, first_response_due_at__lte=now)
            | Q(resolution_due_at__lte=now)
        )
    elif which != TipList.OPEN:
        raise ValidationError(_("open, mine or overdue"), field="which")
    return list(
        await query.order_by("first_response_due_at", "id").limit(limit).prefetch_related("unit")
    )


async def count_tips(staff: Staff) -> dict[str, int]:
    """How many open, unacknowledged and overdue tips ``staff`` can see."""
    base = Tip.filter(await scope_q(staff), status__in=OPEN_TIP_STATUSES)
    now = utcnow()
    return {
        "open": await base.count(),
        "new": await base.filter(status=TipStatus.NEW).count(),
        "overdue": await base.filter(
            Q(first_response_at__isnull=True, first_response_due_at__lte=now)
            | Q(resolution_due_at__lte=now)
        ).count(),
        "mine": await base.filter(assignee_id=staff.id).count(),
    }


# --- who is told -------------------------------------------------------------------------------


async def on_duty(unit_id: int) -> list[Staff]:
    shifts = DutyShift.filter(unit_id=unit_id, ended_at__isnull=True).values_list(
        "staff_id", flat=True
    )
    return list(await Staff.filter(id__in=await shifts, active=True).order_by("id"))


async def responders(unit_id: int) -> list[Staff]:
    """Who gets a new tip of ``unit_id``: the officers on duty, else every staff member of the
    unit itself."""
    present = await on_duty(unit_id)
    if present:
        return present
    return list(await Staff.filter(unit_id=unit_id, active=True).order_by("id"))


async def _routes(unit: Unit, category: TipCategory) -> list[Unit]:
    lineage = [int(part) for part in unit.path.strip("/").split("/") if part] + [unit.id]
    rules = await RoutingRule.filter(scope_unit_id__in=lineage, category=category).prefetch_related(
        "target_unit"
    )
    targets = {rule.target_unit.id: rule.target_unit for rule in rules}
    targets.pop(unit.id, None)
    return [targets[key] for key in sorted(targets)]


async def sender_label(keyring: Keyring, tip: Tip) -> str:
    """How officers see the sender: the alias, or the name the resident agreed to show."""
    if tip.anonymous or tip.contact_id is None:  # type: ignore[attr-defined]
        return tip.alias or "—"
    contact = await Contact.get_or_none(id=tip.contact_id)  # type: ignore[attr-defined]
    if contact is None or contact.erased_at is not None:
        return tip.alias or "—"
    name = open_identity(keyring, contact).display_name or tip.alias or "—"
    if tip.household_id is not None:  # type: ignore[attr-defined]
        # A shared household account: the tip says which of its households it is about.
        household = await Household.get_or_none(id=tip.household_id).select_related("hamlet")  # type: ignore[attr-defined]
        if household is not None:
            return f"{name} · {household.head_name}, {household.hamlet.name}"
    return name


async def notify_responders(
    keyring: Keyring, tip: Tip, people: Sequence[Staff], dedup: str, *, headline: str
) -> int:
    """Send ``tip``'s card, headed by ``headline`` (a msgid), to ``people``."""
    card = await tipcards.TipCard.of(tip, await sender_label(keyring, tip))

    def compose(locale: str) -> OutboundMessage:
        return card.message(notices.catalog(), locale, headline=headline)

    return await notices.send_to_staff(people, compose, f"tip:{tip.id}:{dedup}", tip_id=tip.id)


# --- intake ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    tip: Tip
    reference: str
    notified: int
    verdict_known: bool  # a rumour already answered: the verdict was sent with the receipt


class Tips:
    """The tip desk, for the bots, the API and the jobs: needs the keyring for the vault."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    async def submit(self, contact: Contact, data: TipInput) -> Submitted:
        """Store a resident's tip and tell the officers who must act."""
        valid = await validate(data)
        now = utcnow()
        recent = await AliasVaultEntry.filter(
            tipster_key=vault.tipster_key(self.keyring, contact),
            created_at__gt=now - FLOOD_WINDOW,
        ).count()
        if recent >= FLOOD_LIMIT:
            # One person flooding the desk would bury everyone else's tips.
            raise ValidationError(_("too many tips in the last hour; please wait"), field="flood")
        household = None
        if data.household_id is not None:
            household = await householdgroups.check_tip_household(contact, data.household_id)
        urgency = CATEGORY_URGENCY[valid.category]
        deadlines = await sla.deadlines(valid.unit, urgency, now)
        async with in_transaction(raw.connection(Tip).connection_name):
            tip = await Tip.create(
                reference=await _free_reference(),
                unit=valid.unit,
                category=valid.category,
                urgency=urgency,
                anonymous=data.anonymous,
                alias=new_alias(),
                contact=None if data.anonymous else contact,
                # An anonymous tip's household would name its sender: it stays in the vault.
                household=None if data.anonymous else household,
                source=data.source[:16],
                text=valid.text,
                location_lat=valid.location.latitude if valid.location else None,
                location_lng=valid.location.longitude if valid.location else None,
                location_text=valid.location_text
                or (
                    clean(valid.location.title or "")[:MAX_DETAIL] or None
                    if valid.location
                    else None
                ),
                details=valid.details,
                first_response_due_at=deadlines.first_response,
                resolution_due_at=deadlines.resolution,
            )
            message = await TipMessage.create(
                tip=tip, direction=TipMessageDirection.FROM_RESIDENT, text=valid.text
            )
            await self._attach(tip, message, contact, data.media)
            await vault.deposit(
                self.keyring,
                tip,
                contact,
                household_id=household.id if household is not None and data.anonymous else None,
            )
            routed = await _routes(valid.unit, valid.category)
            for unit in routed:
                await TipRoute.create(tip=tip, unit=unit)
            verdict_known = False
            if valid.category is TipCategory.RUMOUR_CHECK:
                verdict_known = await rumours.join_cluster(self.keyring, tip, valid.unit)
            people = await responders(valid.unit.id)
            for unit in routed:
                people += [p for p in await responders(unit.id) if p not in people]
            if not people:
                # Nobody to tell in the unit: the deadline is now, the ticker escalates.
                tip.first_response_due_at = now
                await tip.save(update_fields=["first_response_due_at"])
            await TipEvent.create(
                tip=tip,
                kind="created",
                data={
                    "status": TipStatus.NEW.value,
                    "urgency": urgency.value,
                    "routed_to": [unit.id for unit in routed],
                    "notified": [person.id for person in people],
                },
            )
            notified = 0
            if not verdict_known:
                notified = await notify_responders(
                    self.keyring, tip, people, "new", headline=tipcards.NEW_TIP
                )
            await audit.record(
                "tip.created",
                actor_label="resident",
                object_type="tip",
                object_id=tip.id,
                unit_id=valid.unit.id,
                source=data.source[:16],
                data={"category": valid.category.value, "anonymous": data.anonymous},
            )
        return Submitted(tip, display_reference(tip), notified, verdict_known)

    async def _attach(
        self, tip: Tip, message: TipMessage, contact: Contact, media: Sequence[Media]
    ) -> None:
        box = self.keyring.box(ATTACHMENT_BOX)
        for item in media:
            await TipAttachment.create(
                tip=tip,
                message=message,
                kind=item.kind.value,
                content_type=(item.mime_type or "")[:100],
                size_bytes=item.size or 0,
                status=AttachmentStatus.PENDING,
                channel_account_id=contact.channel_account_id,  # type: ignore[attr-defined]
                source_sealed=box.seal_json(
                    {
                        "kind": item.kind.value,
                        "ref": item.ref,
                        "name": item.name,
                        "mime": item.mime_type,
                        "size": item.size,
                    }
                ),
            )

    async def mine(self, contact: Contact, *, limit: int = LIST_LIMIT) -> list[Tip]:
        """The tips ``contact`` sent, newest first."""
        ids = (await vault.tip_ids_of(self.keyring, contact))[:limit]
        tips = {tip.id: tip for tip in await Tip.filter(id__in=ids).prefetch_related("unit")}
        return [tips[tip_id] for tip_id in ids if tip_id in tips]

    async def own_tip(self, contact: Contact, ref: str) -> Tip:
        """``contact``'s own tip by its reference; `NotFound` for anyone else's."""
        tip = await Tip.get_or_none(reference=normalize_reference(ref)).prefetch_related("unit")
        if tip is None or tip.id not in await vault.tip_ids_of(self.keyring, contact):
            raise NotFound("not found")
        return tip

    async def add(self, contact: Contact, ref: str, text: str, media: Sequence[Media] = ()) -> Tip:
        """The resident adds to their open tip; whoever handles it is told."""
        tip = await self.own_tip(contact, ref)
        if tip.status not in OPEN_TIP_STATUSES:
            raise Conflict(_("this tip is closed"))
        body = clean_message(text)
        if not body and not media:
            raise ValidationError(_("write what to add"), field="text")
        if len(body) > MAX_TEXT:
            raise ValidationError(_("at most {limit} characters"), field="text", limit=MAX_TEXT)
        async with in_transaction(raw.connection(Tip).connection_name):
            message = await TipMessage.create(
                tip=tip, direction=TipMessageDirection.FROM_RESIDENT, text=body
            )
            await self._attach(tip, message, contact, media)
            await TipEvent.create(tip=tip, kind="resident_added", data={"message": message.id})
            people = await self._handlers(tip)
            await notify_responders(
                self.keyring, tip, people, f"add:{message.id}", headline=tipcards.TIP_ADDED
            )
        return tip

    async def _handlers(self, tip: Tip) -> list[Staff]:
        """Who handles ``tip`` now: its assignee, else whoever a new tip would reach."""
        if tip.assignee_id is not None:  # type: ignore[attr-defined]
            assignee = await Staff.get_or_none(id=tip.assignee_id, active=True)  # type: ignore[attr-defined]
            if assignee is not None:
                return [assignee]
        return await responders(tip.unit_id)  # type: ignore[attr-defined]

    # --- officer actions ---------------------------------------------------------------------

    async def acknowledge(self, staff: Staff, ref: int | str, *, source: str = "bot") -> Tip:
        tip = await access_tip(staff, ref, source=source)
        if tip.status not in _ACK_FROM:
            raise Conflict(_("this tip was already acknowledged"))
        return await self._change(staff, tip, "acknowledged", TipStatus.ACKNOWLEDGED, source)

    async def take(self, staff: Staff, ref: int | str, *, source: str = "bot") -> Tip:
        tip = await access_tip(staff, ref, source=source)
        if tip.status not in _TAKE_FROM:
            raise Conflict(_("this tip is closed"))
        if tip.assignee_id == staff.id and tip.status is TipStatus.IN_PROGRESS:  # type: ignore[attr-defined]
            raise Conflict(_("this tip is already yours"))
        tip.assignee = staff
        return await self._change(
            staff, tip, "taken", TipStatus.IN_PROGRESS, source, extra=("assignee_id",)
        )

    async def reply(self, staff: Staff, ref: int | str, text: str, *, source: str = "bot") -> bool:
        """Relay ``text`` to the tip's sender through the vault; False when they can no
        longer be reached (the reply is kept in the thread either way)."""
        tip = await access_tip(staff, ref, source=source)
        body = _officer_text(text)
        async with in_transaction(raw.connection(Tip).connection_name):
            message = await TipMessage.create(
                tip=tip, direction=TipMessageDirection.TO_RESIDENT, author=staff, text=body
            )
            await self._first_response(tip, staff)
            await TipEvent.create(
                tip=tip, kind="replied", actor=staff, data={"message": message.id}
            )
            await _audit("tip.replied", staff, tip, source)
            reached = await vault.tell_tipster(
                self.keyring,
                tip,
                lambda locale: tipcards.reply_to_resident(notices.catalog(), locale, tip, body),
                f"reply:{message.id}",
            )
        return reached

    async def note(self, staff: Staff, ref: int | str, text: str, *, source: str = "bot") -> Tip:
        tip = await access_tip(staff, ref, source=source)
        body = _officer_text(text)
        async with in_transaction(raw.connection(Tip).connection_name):
            message = await TipMessage.create(
                tip=tip, direction=TipMessageDirection.INTERNAL_NOTE, author=staff, text=body
            )
            await TipEvent.create(tip=tip, kind="noted", actor=staff, data={"message": message.id})
            await _audit("tip.noted", staff, tip, source)
        return tip

    async def resolve(
        self, staff: Staff, ref: int | str, outcome: str, *, source: str = "bot"
    ) -> Tip:
        """Close the tip as handled; the resident is told ``outcome``."""
        return await self._close(staff, ref, outcome, TipStatus.RESOLVED, source)

    async def reject(
        self, staff: Staff, ref: int | str, reason: str, *, source: str = "bot"
    ) -> Tip:
        """Close the tip without action; the resident is told ``reason``."""
        return await self._close(staff, ref, reason, TipStatus.REJECTED, source)

    async def _close(
        self, staff: Staff, ref: int | str, text: str, status: TipStatus, source: str
    ) -> Tip:
        tip = await access_tip(staff, ref, source=source)
        _require_open(tip)
        tip.outcome = _officer_text(text)
        tip.resolved_at = utcnow()
        return await self._change(
            staff,
            tip,
            status.value,
            status,
            source,
            extra=("outcome", "resolved_at"),
            told=tip.outcome,
        )

    async def mark_duplicate(
        self, staff: Staff, ref: int | str, original_ref: int | str, *, source: str = "bot"
    ) -> Tip:
        tip = await access_tip(staff, ref, source=source)
        _require_open(tip)
        original = await access_tip(staff, original_ref, source=source)
        if original.id == tip.id:
            raise ValidationError(_("a tip cannot duplicate itself"), field="original")
        tip.duplicate_of = original
        tip.resolved_at = utcnow()
        return await self._change(
            staff,
            tip,
            "duplicate",
            TipStatus.DUPLICATE,
            source,
            extra=("duplicate_of_id", "resolved_at"),
            data={"original": original.id},
        )

    async def _first_response(self, tip: Tip, staff: Staff) -> None:
        """The first thing an officer does answers the tip: it stops the first deadline and
        takes a new tip to acknowledged."""
        fields: list[str] = []
        if tip.first_response_at is None:
            tip.first_response_at = utcnow()
            fields.append("first_response_at")
        if tip.status is TipStatus.NEW:
            await TipEvent.create(
                tip=tip,
                kind="status",
                actor=staff,
                data={"from": TipStatus.NEW.value, "to": TipStatus.ACKNOWLEDGED.value},
            )
            tip.status = TipStatus.ACKNOWLEDGED
            fields.append("status")
        if fields:
            await tip.save(update_fields=[*fields, "updated_at"])

    async def _change(
        self,
        staff: Staff,
        tip: Tip,
        action: str,
        status: TipStatus,
        source: str,
        *,
        extra: Sequence[str] = (),
        told: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Tip:
        before = tip.status
        async with in_transaction(raw.connection(Tip).connection_name):
            # Only one officer's change wins when two press at once.
            claimed = await Tip.filter(id=tip.id, status=before).update(status=status)
            if not claimed:
                raise Conflict(_("this tip was changed meanwhile; look at it again"))
            tip.status = status
            if tip.first_response_at is None:
                tip.first_response_at = utcnow()
                extra = (*extra, "first_response_at")
            await tip.save(update_fields=[*extra, "updated_at"])
            await TipEvent.create(
                tip=tip,
                kind="status",
                actor=staff,
                data={"from": before.value, "to": status.value, "action": action, **(data or {})},
            )
            await _audit(
                f"tip.{action}", staff, tip, source, {"from": before.value, "to": status.value}
            )
            await vault.tell_tipster(
                self.keyring,
                tip,
                lambda locale: tipcards.status_to_resident(
                    notices.catalog(), locale, tip, status, told
                ),
                f"status:{status.value}",
            )
        return tip


ATTACHMENT_BOX = "tip-attachment"


def _unit_id(tip: Tip) -> int:
    return int(tip.unit_id)  # type: ignore[attr-defined]


async def _audit(
    action: str, staff: Staff, tip: Tip, source: str, data: dict[str, Any] | None = None
) -> None:
    await audit.record(
        action,
        actor=staff,
        object_type="tip",
        object_id=tip.id,
        unit_id=_unit_id(tip),
        source=source,
        data=data,
    )


async def _free_reference() -> str:
    for _attempt in range(20):
        reference = new_reference()
        if not await Tip.exists(reference=reference):
            return reference
    raise Conflict(_("no free reference number; try again"))  # pragma: no cover - 23^6 of them


def _officer_text(text: str) -> str:
    body = clean_message(text)
    if not body:
        raise ValidationError(_("write something"), field="text")
    if len(body) > MAX_TEXT:
        raise ValidationError(_("at most {limit} characters"), field="text", limit=MAX_TEXT)
    return body


def _require_open(tip: Tip) -> None:
    if tip.status not in _CLOSE_FROM:
        raise Conflict(_("this tip is already closed"))


async def thread(staff: Staff, ref: int | str, *, limit: int = 20) -> list[TipMessage]:
    """The latest messages of a tip's thread, oldest first (notes included), with their
    authors."""
    tip = await access_tip(staff, ref)
    rows = (
        await TipMessage.filter(tip_id=tip.id)
        .order_by("-id")
        .limit(limit)
        .prefetch_related("author")
    )
    return list(reversed(rows))


async def events(staff: Staff, ref: int | str) -> list[TipEvent]:
    tip = await access_tip(staff, ref)
    return list(await TipEvent.filter(tip_id=tip.id).order_by("id"))


def is_overdue(tip: Tip, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if tip.status not in OPEN_TIP_STATUSES:
        return False
    first = tip.first_response_at is None and tip.first_response_due_at is not None
    return bool(
        (first and tip.first_response_due_at <= now)  # type: ignore[operator]
        or (tip.resolution_due_at is not None and tip.resolution_due_at <= now)
    )


__all__ = [
    "CATEGORY_URGENCY",
    "FRAUD_FIELDS",
    "Role",
    "Submitted",
    "TipInput",
    "TipList",
    "Tips",
    "access_tip",
    "count_tips",
    "display_reference",
    "events",
    "list_tips",
    "normalize_reference",
    "on_duty",
    "responders",
    "thread",
]
