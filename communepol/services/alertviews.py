"""Alerts as the public sees them: the CAP 1.2 document of every sent message, the web view of
an alert with its whole chain, and the alerts shown on a page. Read-only; the workflow that
creates, approves, sends, updates and cancels alerts is `communepol.services.alerts`.

An alert is a *chain* of messages: the original (``msg_type`` Alert), then any Updates, then
perhaps a Cancel, each its own row whose ``references`` names the message before it. Only
sent messages are public (``sent_at`` set; never a draft or one waiting for approval), and a
chain's public state is read off its newest message: a Cancel or a closed status means
*closed* (found or cancelled), an expired status or a passed ``expires_at`` means *expired*.

Chains are loaded one level at a time for all the alerts at hand (one query per hop, not one
per message). The photo of a missing person is public only while the alert is active: once
the person is found or the alert is over, the CAP resource, the web view and the photo route
stop showing it.

The CAP document is built with ElementTree, so every text is escaped by construction; its
times carry the local offset (``+07:00``) because CAP forbids ``Z``.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from tortoise.expressions import Q, Subquery

from communepol.db.models import (
    Alert,
    AlertMessageType,
    AlertStatus,
    AlertTarget,
    Page,
)
from communepol.errors import NotFound
from communepol.i18n import DEFAULT_TIMEZONE, N_, POST_CATEGORY_LABELS, I18n, format_datetime

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
CAP_LANGUAGE = "vi-VN"
CAP_LOCALE = "vi"  # the catalog the CAP texts are written from
GEOCODE_NAME = "VN-DVHC"  # danh mục đơn vị hành chính: the GSO administrative codes
VIETNAM = ZoneInfo(DEFAULT_TIMEZONE)

# CAP 1.2 §3.2.2 categories for our post categories; anything else is "Other".
CAP_CATEGORIES: dict[str, str] = {
    "missing_person": "Rescue",
    "crime_warning": "Security",
    "fraud_warning": "Security",
    "health": "Health",
}

# Labels of the structured fields, shared by the CAP description and the web view.
NAME_LABEL = N_("Name")
FEATURES_LABEL = N_("Identifying features")
PLACE_LABEL = N_("Place last seen")
TIME_LABEL = N_("Time last seen")
PHOTO_LABEL = N_("Photo")

_NOT_PUBLIC = (AlertStatus.DRAFT, AlertStatus.PENDING_APPROVAL)
# A chain longer than this is a bug (or a cycle); stop walking rather than loop.
_MAX_CHAIN = 100
# XML 1.0 cannot carry most control characters, even escaped; drop them so a stray one in a
# headline cannot make the document unparseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class AlertState(StrEnum):
    """Where an alert stands for the public."""

    ACTIVE = "active"
    CLOSED = "closed"  # the person was found, or the alert was cancelled
    EXPIRED = "expired"


@dataclass(frozen=True)
class AreaView:
    """One area an alert was addressed to: a unit's name and its administrative code."""

    name: str
    code: str | None


@dataclass(frozen=True)
class AlertMessage:
    """One sent message of a chain (the original, an update or the cancel)."""

    identifier: str
    msg_type: str
    category: str
    urgency: str
    severity: str
    certainty: str
    headline: str
    description: str
    instruction: str
    subject_name: str | None
    subject_description: str | None
    last_seen_place: str | None
    last_seen_at: datetime | None
    contact_phone: str | None
    has_photo: bool
    sent_at: datetime
    expires_at: datetime | None
    unit_name: str


@dataclass(frozen=True)
class AlertView:
    """An alert's public web view: the message asked for, the newest one, the whole chain
    (original first, then the updates, then the cancel) and where the alert stands."""

    message: AlertMessage
    current: AlertMessage
    chain: list[AlertMessage]
    state: AlertState
    areas: list[AreaView]
    photo_identifier: str | None  # the message whose photo to show; None when not shown

    @property
    def has_photo(self) -> bool:
        return self.photo_identifier is not None


@dataclass(frozen=True)
class AlertSummary:
    """One alert in a page's list: its newest message, and where the alert stands."""

    identifier: str
    headline: str
    category: str
    msg_type: str
    state: AlertState
    sent_at: datetime  # the newest message's
    first_sent_at: datetime  # the original's
    unit_name: str


# --- loading ---------------------------------------------------------------------------------


def _public() -> Q:
    return Q(sent_at__isnull=False) & ~Q(status__in=list(_NOT_PUBLIC))


async def _public_message(identifier: str) -> Alert:
    message = (
        await Alert.filter(_public(), identifier=identifier).select_related("issuing_unit").first()
    )
    if message is None:
        raise NotFound("alert not found")
    return message


def _order(message: Alert) -> tuple[datetime, int]:
    return (message.sent_at or datetime.min.replace(tzinfo=UTC), message.id)


async def _load_chains(seeds: Iterable[Alert]) -> list[list[Alert]]:
    """Every public message connected to ``seeds``, one list per chain, oldest first.

    Walks up through ``references`` and then down through the follow-ups, one query per hop
    for all the seeds together. A message whose predecessor is not public starts a chain.
    """
    known: dict[int, Alert] = {m.id: m for m in seeds}

    def parent(message: Alert) -> int | None:
        return message.references_id  # type: ignore[attr-defined]

    wanted = {p for m in known.values() if (p := parent(m)) is not None and p not in known}
    for _hop in range(_MAX_CHAIN):
        if not wanted:
            break
        found = await Alert.filter(_public(), id__in=wanted).select_related("issuing_unit")
        known.update((m.id, m) for m in found)
        wanted = {p for m in found if (p := parent(m)) is not None and p not in known}

    frontier = set(known)
    for _hop in range(_MAX_CHAIN):
        if not frontier:
            break
        found = (
            await Alert.filter(_public(), references_id__in=frontier)
            .exclude(id__in=list(known))
            .select_related("issuing_unit")
        )
        known.update((m.id, m) for m in found)
        frontier = {m.id for m in found}

    def root(message: Alert) -> int:
        seen = {message.id}
        while (p := parent(message)) is not None and p in known and p not in seen:
            message = known[p]
            seen.add(p)
        return message.id

    chains: dict[int, list[Alert]] = {}
    for message in known.values():
        chains.setdefault(root(message), []).append(message)
    return [sorted(chain, key=_order) for chain in chains.values()]


async def _chain_of(message: Alert) -> list[Alert]:
    for chain in await _load_chains([message]):
        if any(m.id == message.id for m in chain):
            return chain
    return [message]  # unreachable: the seed is always in one of its chains


def _ancestors(message: Alert, chain: list[Alert]) -> list[Alert]:
    """The messages ``message`` follows, oldest first."""
    by_id = {m.id: m for m in chain}
    earlier: list[Alert] = []
    seen = {message.id}
    current = message
    while (p := current.references_id) is not None and p in by_id and p not in seen:  # type: ignore[attr-defined]
        current = by_id[p]
        seen.add(p)
        earlier.append(current)
    return earlier[::-1]


def chain_state(chain: list[Alert], now: datetime | None = None) -> AlertState:
    """Where a chain (oldest first) stands: closed, expired or active."""
    original, newest = chain[0], chain[-1]
    statuses = {original.status, newest.status}
    if newest.msg_type == AlertMessageType.CANCEL or AlertStatus.CLOSED in statuses:
        return AlertState.CLOSED
    moment = now or datetime.now(UTC)
    if AlertStatus.EXPIRED in statuses or (
        newest.expires_at is not None and newest.expires_at <= moment
    ):
        return AlertState.EXPIRED
    return AlertState.ACTIVE


async def _areas(alert_id: int) -> list[AreaView]:
    """The units a message was addressed to (a page counts as its unit), each once."""
    targets = (
        await AlertTarget.filter(alert_id=alert_id)
        .select_related("unit", "page__unit")
        .order_by("id")
    )
    areas: dict[int, AreaView] = {}
    for target in targets:
        unit = target.unit if target.unit is not None else target.page.unit if target.page else None
        if unit is not None and unit.id not in areas:
            areas[unit.id] = AreaView(name=unit.name, code=unit.code)
    return list(areas.values())


def _sent_at(message: Alert) -> datetime:
    if message.sent_at is None:  # only public (sent) messages are ever loaded
        raise NotFound("alert not found")
    return message.sent_at


def _message_view(message: Alert) -> AlertMessage:
    return AlertMessage(
        identifier=message.identifier,
        msg_type=str(message.msg_type),
        category=message.category,
        urgency=message.urgency,
        severity=message.severity,
        certainty=message.certainty,
        headline=message.headline,
        description=message.description,
        instruction=message.instruction,
        subject_name=message.subject_name,
        subject_description=message.subject_description,
        last_seen_place=message.last_seen_place,
        last_seen_at=message.last_seen_at,
        contact_phone=message.contact_phone,
        has_photo=bool(message.photo_path),
        sent_at=_sent_at(message),
        expires_at=message.expires_at,
        unit_name=message.issuing_unit.name,
    )


# --- the web view and the page list ----------------------------------------------------------


async def public_alert(identifier: str) -> AlertView:
    """The public view of the message ``identifier`` and its chain; `NotFound` when there is
    no such message or it has not been sent.

    The text is shown as the officer wrote it (Vietnamese); labels are translated by the
    caller, which is why no locale is taken here."""
    message = await _public_message(identifier)
    chain = await _chain_of(message)
    newest = chain[-1]
    state = chain_state(chain)
    photo = next((m for m in reversed(chain) if m.photo_path), None)
    return AlertView(
        message=_message_view(message),
        current=_message_view(newest),
        chain=[_message_view(m) for m in chain],
        state=state,
        areas=await _areas(newest.id),
        photo_identifier=photo.identifier if photo and state == AlertState.ACTIVE else None,
    )


async def page_alerts(page_id: int, *, limit: int = 10) -> list[AlertSummary]:
    """The alerts that reached page ``page_id``, newest first, one per chain (its newest
    message, so a cancelled alert shows as closed).

    An alert reaches a page when it targets the page itself, the page's unit, or a unit above
    it with its subtree. `NotFound` when there is no such page."""
    page = await Page.filter(id=page_id).select_related("unit").first()
    if page is None:
        raise NotFound("page not found")
    above = [int(part) for part in page.unit.path.strip("/").split("/") if part]
    reaching = AlertTarget.filter(
        Q(page_id=page.id) | Q(unit_id=page.unit.id) | Q(unit_id__in=above, include_subtree=True)
    ).values("alert_id")
    superseded = Alert.filter(_public(), references_id__isnull=False).values("references_id")
    # The workflow copies the targets onto every message, so a chain's newest message is
    # among those that reach the page and that no public message follows.
    newest = (
        await Alert.filter(_public(), id__in=Subquery(reaching))
        .exclude(id__in=Subquery(superseded))
        .order_by("-sent_at", "-id")
        .limit(limit)
        .select_related("issuing_unit")
    )
    chains = {chain[-1].id: chain for chain in await _load_chains(newest)}
    summaries: list[AlertSummary] = []
    for message in newest:
        chain = chains.get(message.id)
        if chain is None:  # a sibling update was sent meanwhile; its own row will show it
            continue
        summaries.append(
            AlertSummary(
                identifier=message.identifier,
                headline=message.headline,
                category=message.category,
                msg_type=str(message.msg_type),
                state=chain_state(chain),
                sent_at=_sent_at(message),
                first_sent_at=_sent_at(chain[0]),
                unit_name=message.issuing_unit.name,
            )
        )
    return summaries


async def page_alerts_by_slug(slug: str, *, limit: int = 10) -> list[AlertSummary]:
    """`page_alerts` for the active page at ``/p/{slug}``; `NotFound` when there is none."""
    page_id = await Page.filter(slug=slug, active=True).first().values_list("id", flat=True)
    if page_id is None:
        raise NotFound("page not found")
    return await page_alerts(int(page_id), limit=limit)  # type: ignore[call-overload]


async def alert_photo(identifier: str, data_dir: Path) -> Path:
    """The photo file of message ``identifier`` under ``data_dir``.

    `NotFound` when the message has no photo, is not public, its alert is no longer active,
    or the stored path leads outside ``data_dir`` (a stored ``../`` or absolute path, or a
    symbolic link pointing away)."""
    message = await _public_message(identifier)
    if not message.photo_path or chain_state(await _chain_of(message)) != AlertState.ACTIVE:
        raise NotFound("photo not found")
    path = await asyncio.to_thread(_file_inside, data_dir, message.photo_path)
    if path is None:
        raise NotFound("photo not found")
    return path


def _file_inside(directory: Path, relative: str) -> Path | None:
    """The regular file ``relative`` names under ``directory``, links resolved; None when it
    does not exist or leads outside."""
    base = directory.resolve()
    path = (base / relative).resolve()
    return path if path.is_relative_to(base) and path.is_file() else None


# --- the CAP 1.2 document --------------------------------------------------------------------


def cap_time(moment: datetime, tz: tzinfo = VIETNAM) -> str:
    """A CAP dateTime: ``2026-11-23T10:00:00+07:00``; UTC is written ``-00:00``, never ``Z``."""
    stamp = moment.astimezone(tz).isoformat(timespec="seconds")
    return stamp[:-6] + "-00:00" if stamp.endswith("+00:00") else stamp


def cap_category(category: str) -> str:
    """The CAP category of one of our post categories."""
    return CAP_CATEGORIES.get(category, "Other")


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _NOT_XML.sub("", text)
    return element


def cap_description(message: Alert, i18n: I18n, tz: tzinfo = VIETNAM) -> str:
    """The message's description followed by its structured fields, one ``label: value`` line
    each, in Vietnamese."""

    def label(msgid: str) -> str:
        return i18n.gettext(CAP_LOCALE, msgid)

    facts: list[tuple[str, str | None]] = [
        (NAME_LABEL, message.subject_name),
        (FEATURES_LABEL, message.subject_description),
        (PLACE_LABEL, message.last_seen_place),
        (
            TIME_LABEL,
            format_datetime(message.last_seen_at, CAP_LOCALE, tz) if message.last_seen_at else None,
        ),
    ]
    lines = [f"{label(msgid)}: {value}" for msgid, value in facts if value]
    return "\n\n".join(part for part in (message.description.strip(), "\n".join(lines)) if part)


def render_cap(
    message: Alert,
    *,
    earlier: list[Alert],
    areas: list[AreaView],
    show_photo: bool,
    sender: str,
    base_url: str,
    i18n: I18n,
    tz: tzinfo = VIETNAM,
) -> bytes:
    """The CAP 1.2 XML of ``message`` (its issuing unit loaded), UTF-8 with a declaration.

    ``earlier`` are the messages it follows, oldest first (its ``references``). Elements come
    in the order of the standard's schema (CAP 1.2 §3.2)."""
    sent = _sent_at(message)
    url = base_url.rstrip("/")
    # Unqualified tags under a default namespace declaration: no process-wide prefix registry.
    alert = ET.Element("alert", {"xmlns": CAP_NAMESPACE})
    _text(alert, "identifier", message.identifier)
    _text(alert, "sender", sender)
    _text(alert, "sent", cap_time(sent, tz))
    _text(alert, "status", "Actual")
    _text(alert, "msgType", str(message.msg_type))
    _text(alert, "scope", "Public")
    if message.msg_type != AlertMessageType.ALERT and earlier:
        _text(
            alert,
            "references",
            " ".join(
                f"{sender},{m.identifier},{cap_time(m.sent_at, tz)}" for m in earlier if m.sent_at
            ),
        )

    info = ET.SubElement(alert, "info")
    _text(info, "language", CAP_LANGUAGE)
    _text(info, "category", cap_category(message.category))
    event = POST_CATEGORY_LABELS.get(message.category)
    _text(info, "event", i18n.gettext(CAP_LOCALE, event) if event else message.category)
    _text(info, "urgency", message.urgency)
    _text(info, "severity", message.severity)
    _text(info, "certainty", message.certainty)
    if message.expires_at is not None:
        _text(info, "expires", cap_time(message.expires_at, tz))
    _text(info, "senderName", message.issuing_unit.name)
    _text(info, "headline", message.headline)
    description = cap_description(message, i18n, tz)
    if description:
        _text(info, "description", description)
    if message.instruction.strip():
        _text(info, "instruction", message.instruction)
    _text(info, "web", f"{url}/a/{message.identifier}")
    if message.contact_phone:
        _text(info, "contact", message.contact_phone)
    if show_photo and message.photo_path:
        resource = ET.SubElement(info, "resource")
        _text(resource, "resourceDesc", i18n.gettext(CAP_LOCALE, PHOTO_LABEL))
        mime, _encoding = mimetypes.guess_type(message.photo_path)
        _text(resource, "mimeType", mime or "application/octet-stream")
        _text(resource, "uri", f"{url}/a/{message.identifier}/photo")
    for area in areas:
        element = ET.SubElement(info, "area")
        _text(element, "areaDesc", area.name)
        if area.code:
            geocode = ET.SubElement(element, "geocode")
            _text(geocode, "valueName", GEOCODE_NAME)
            _text(geocode, "value", area.code)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


async def cap_document(
    identifier: str,
    *,
    sender: str,
    base_url: str,
    i18n: I18n,
    tz: tzinfo = VIETNAM,
) -> bytes:
    """The CAP 1.2 document of the sent message ``identifier``; `NotFound` when there is no
    such message or it has not been sent.

    ``sender`` is the CAP sender (``communepol@<host of the public address>``), also used in
    the ``references`` to earlier messages; ``base_url`` is the public address the ``web``
    and photo links start with; ``i18n`` gives the Vietnamese texts (event, field labels)."""
    message = await _public_message(identifier)
    chain = await _chain_of(message)
    return render_cap(
        message,
        earlier=_ancestors(message, chain),
        areas=await _areas(message.id),
        show_photo=chain_state(chain) == AlertState.ACTIVE,
        sender=sender,
        base_url=base_url,
        i18n=i18n,
        tz=tz,
    )
