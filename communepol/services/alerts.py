"""Alerts: an urgent message to several pages or a whole unit subtree at once — a missing
person, a fraud wave — then its updates and its end ("found"), each reaching exactly the
people the alert reached.

- **Targets** are pages and units (a unit with its subtree: every active page of a commune
  below it). They must all be in the issuer's scope.
- **Two-person rule**: an alert whose pages belong to more than one commune waits for a second
  staff member — a supervisor or admin with every target in scope, not the issuer — to
  approve it; an alert for one commune goes out when its issuer sends it.
- **Sending** publishes one alert post on each target page (so each public page shows it) and
  fans it out to the followers of every page with one dedup key per person for the whole
  alert: someone following three of the pages receives it once.
- **Update and cancel** are messages of their own (CAP ``msgType`` Update and Cancel, with
  ``references`` to the earlier message); each is planned from the rows of the original alert,
  so it reaches exactly its recipients — minus anyone who has since stopped following or
  asked to be deleted. A cancel also withdraws what is still queued of the earlier messages.
- Every message has a public CAP 1.2 view (`communepol.services.alertviews`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from communepol.clock import require_aware, utcnow
from communepol.db import raw
from communepol.db.models import (
    PRIORITY_OF_KIND,
    Alert,
    AlertMessageType,
    AlertStatus,
    AlertTarget,
    Delivery,
    DeliveryKind,
    Page,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, POST_CATEGORY_LABELS, SUPPORTED_LOCALES, I18n, _, format_datetime
from communepol.media import IMAGE_CONTENT_TYPES, MediaStore
from communepol.ports import Button, ButtonKind, Media, MediaKind, OutboundMessage
from communepol.services import audit, notices, outbox, scope
from communepol.services.fanout import Audience, payload_sql
from communepol.services.posts import add_relay_messages, plan_audience
from communepol.services.staff import normalize_phone
from communepol.services.units import subtree_prefix
from communepol.settings import Settings
from communepol.text import clean, clean_message

HEADLINE_MAX = 200
PHOTO_MAX_BYTES = 5 * 1024 * 1024
TEXT_MAX = 4000
LIVE = (AlertStatus.ACTIVE,)

# The categories an alert is issued under (the web's form and the API offer these).
CATEGORIES = (
    PostCategory.MISSING_PERSON,
    PostCategory.FRAUD_WARNING,
    PostCategory.CRIME_WARNING,
    PostCategory.ANNOUNCEMENT,
)

_PREFIX = {
    AlertMessageType.ALERT: N_("ALERT"),
    AlertMessageType.UPDATE: N_("UPDATE"),
    AlertMessageType.CANCEL: N_("ENDED"),
}


@dataclass(frozen=True)
class AlertInput:
    """What the issuer writes. ``pages`` and ``units`` are the targets (a unit includes every
    page below it)."""

    category: str
    headline: str
    description: str = ""
    instruction: str = ""
    subject_name: str | None = None
    subject_description: str | None = None
    last_seen_place: str | None = None
    last_seen_at: datetime | None = None
    contact_phone: str | None = None
    photo_path: str | None = None
    expires_at: datetime | None = None
    pages: Sequence[int] = ()
    units: Sequence[int] = ()


def _optional(value: str | None, limit: int, name: str, refusal: str) -> str | None:
    """``value`` cleaned, None when blank; ``refusal`` (one whole message per field: the
    field's name is words to translate, not a value) when it is longer than ``limit``."""
    if value is None:
        return None
    text = clean_message(value).strip()
    if len(text) > limit:
        raise ValidationError(refusal, field=name, limit=limit)
    return text or None


def _fields(data: AlertInput, now: datetime) -> dict[str, Any]:
    try:
        category = PostCategory(data.category)
    except ValueError as err:
        raise ValidationError(
            _("unknown category {value!r}"), field="category", value=data.category
        ) from err
    headline = clean(data.headline)
    if not headline:
        raise ValidationError(_("an alert needs a headline"), field="headline")
    if len(headline) > HEADLINE_MAX:
        raise ValidationError(
            _("a headline has at most {limit} characters"), field="headline", limit=HEADLINE_MAX
        )
    expires_at = require_aware(data.expires_at, "expires_at") if data.expires_at else None
    if expires_at is not None and expires_at <= now:
        raise ValidationError(_("the expiry time has passed"), field="expires_at")
    return {
        "category": category.value,
        "headline": headline,
        "description": _optional(
            data.description,
            TEXT_MAX,
            "description",
            _("description has at most {limit} characters"),
        )
        or "",
        "instruction": _optional(
            data.instruction,
            TEXT_MAX,
            "instruction",
            _("instruction has at most {limit} characters"),
        )
        or "",
        "subject_name": _optional(
            data.subject_name, 200, "subject_name", _("subject_name has at most {limit} characters")
        ),
        "subject_description": _optional(
            data.subject_description,
            TEXT_MAX,
            "subject_description",
            _("subject_description has at most {limit} characters"),
        ),
        "last_seen_place": _optional(
            data.last_seen_place,
            300,
            "last_seen_place",
            _("last_seen_place has at most {limit} characters"),
        ),
        "last_seen_at": (
            require_aware(data.last_seen_at, "last_seen_at") if data.last_seen_at else None
        ),
        "contact_phone": normalize_phone(data.contact_phone) if data.contact_phone else None,
        "photo_path": data.photo_path,
        "expires_at": expires_at,
    }


async def store_photo(settings: Settings, data: bytes) -> str:
    """Keep an alert's photo (an image, its metadata removed) in the media store; the
    ``photo_path`` to give `AlertInput`, relative to the data directory."""
    store = MediaStore(settings.data_dir / "media")
    stored = await asyncio.to_thread(
        store.save, data, allowed=IMAGE_CONTENT_TYPES, max_bytes=PHOTO_MAX_BYTES
    )
    return f"media/{stored.path}"


def _identifier(now: datetime) -> str:
    """Unique, URL-safe and meaningless: it says when, never who or where."""
    return f"CA-{now:%Y%m%d}-{secrets.token_hex(5)}"


async def target_pages(alert: Alert) -> list[Page]:
    """The active pages an alert reaches: its page targets and every page under its unit
    targets."""
    pages: dict[int, Page] = {}
    for target in await AlertTarget.filter(alert_id=alert.id).select_related("page", "unit"):
        if target.page is not None and target.page.active:
            pages[target.page.id] = target.page
        if target.unit is not None:
            where = Q(unit_id=target.unit.id)
            if target.include_subtree:
                where |= Q(unit__path__startswith=subtree_prefix(target.unit))
            for page in await Page.filter(where, active=True):
                pages[page.id] = page
    found = await Page.filter(id__in=list(pages)).select_related("unit").order_by("id")
    return list(found)


async def _communes(pages: Sequence[Page]) -> set[int]:
    """The communes the pages belong to (a hamlet's page counts as its commune's)."""
    communes = set()
    for page in pages:
        unit = page.unit
        while unit.level is UnitLevel.HAMLET and unit.parent_id is not None:  # type: ignore[attr-defined]
            unit = await Unit.get(id=unit.parent_id)  # type: ignore[attr-defined]
        communes.add(unit.id)
    return communes


async def _require_targets(staff: Staff, pages: Sequence[Page]) -> None:
    if not pages:
        raise ValidationError(
            _("the alert reaches no page: choose pages or units"), field="targets"
        )
    for page in pages:
        await scope.require_unit(staff, page.unit)


async def create_alert(staff: Staff, data: AlertInput, *, source: str = "web") -> Alert:
    """A draft alert from ``staff`` for targets in their scope."""
    now = utcnow()
    fields = _fields(data, now)
    async with in_transaction(raw.connection(Alert).connection_name):
        issuing = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
        alert = await Alert.create(
            identifier=_identifier(now), issuing_unit=issuing, created_by=staff, **fields
        )
        for page_id in dict.fromkeys(data.pages):
            page = await Page.get_or_none(id=page_id, active=True)
            if page is None:
                raise NotFound("not found")
            await AlertTarget.create(alert=alert, page=page)
        for unit_id in dict.fromkeys(data.units):
            unit = await Unit.get_or_none(id=unit_id, active=True)
            if unit is None:
                raise NotFound("not found")
            await scope.require_unit(staff, unit)
            await AlertTarget.create(alert=alert, unit=unit, include_subtree=True)
        await _require_targets(staff, await target_pages(alert))
        await audit.record(
            "alert.created",
            actor=staff,
            object_type="alert",
            object_id=alert.id,
            unit_id=issuing.id,
            source=source,
        )
    return alert


async def get_alert(staff: Staff, alert_id: int) -> Alert:
    """An alert whose targets are all in ``staff``'s scope; `NotFound` otherwise."""
    alert = await Alert.get_or_none(id=alert_id)
    if alert is None:
        raise NotFound("not found")
    for page in await target_pages(alert):
        if not await scope.covers(staff, page.unit):
            raise NotFound("not found")
    return alert


async def needs_second_person(alert: Alert) -> bool:
    """The two-person rule: an alert spanning more than one commune needs a second approver."""
    return len(await _communes(await target_pages(alert))) > 1


class Alerts:
    """Sending, approving, updating and cancelling alerts (needs the message renderer)."""

    def __init__(self, settings: Settings, i18n: I18n) -> None:
        self.settings = settings
        self.i18n = i18n

    async def send(self, staff: Staff, alert_id: int, *, source: str = "web") -> Alert:
        """The issuer sends a draft: out now for one commune; to the approval queue for more."""
        alert = await get_alert(staff, alert_id)
        if alert.status is not AlertStatus.DRAFT:
            raise Conflict(_("this alert was already sent"))
        if await needs_second_person(alert):
            changed = await Alert.filter(id=alert.id, status=AlertStatus.DRAFT).update(
                status=AlertStatus.PENDING_APPROVAL
            )
            if changed != 1:
                raise Conflict(_("this alert changed meanwhile"))
            units = [page.unit for page in await target_pages(alert)]
            await notices.notify(
                await notices.approvers_of(units, besides=staff.id),
                notices.ALERT_WAITING,
                f"alert-waiting:{alert.id}",
                id=alert.id,
            )
            await audit.record(
                "alert.submitted",
                actor=staff,
                object_type="alert",
                object_id=alert.id,
                source=source,
            )
            return await Alert.get(id=alert.id)
        return await self._publish(alert, staff, from_status=AlertStatus.DRAFT, source=source)

    async def approve(self, approver: Staff, alert_id: int, *, source: str = "web") -> Alert:
        """The second person approves an alert spanning several communes; it goes out."""
        alert = await get_alert(approver, alert_id)
        if alert.status is not AlertStatus.PENDING_APPROVAL:
            raise Conflict(_("this alert is not waiting for approval"))
        if alert.created_by_id == approver.id:  # type: ignore[attr-defined]
            raise PermissionDenied(_("a second person must approve this alert"))
        if approver.role not in scope.APPROVER_ROLES:
            raise PermissionDenied(_("only a supervisor can approve this"))
        return await self._publish(
            alert, approver, from_status=AlertStatus.PENDING_APPROVAL, source=source
        )

    async def reject(
        self, approver: Staff, alert_id: int, reason: str, *, source: str = "web"
    ) -> Alert:
        """The second person refuses an alert waiting for them: it never goes out (closed),
        and its issuer is told why."""
        alert = await get_alert(approver, alert_id)
        if alert.created_by_id == approver.id:  # type: ignore[attr-defined]
            raise PermissionDenied(_("a second person must decide on this alert"))
        if approver.role not in scope.APPROVER_ROLES:
            raise PermissionDenied(_("only a supervisor can approve this"))
        reason = clean(reason)[:500]
        if not reason:
            raise ValidationError(_("say why the alert is not sent"), field="reason")
        async with in_transaction(raw.connection(Alert).connection_name):
            changed = await Alert.filter(id=alert.id, status=AlertStatus.PENDING_APPROVAL).update(
                status=AlertStatus.CLOSED
            )
            if changed != 1:
                raise Conflict(_("this alert is not waiting for approval"))
            issuer = await Staff.get_or_none(id=alert.created_by_id, active=True)  # type: ignore[attr-defined]
            if issuer is not None:
                await notices.notify(
                    [issuer],
                    notices.ALERT_REJECTED,
                    f"alert-rejected:{alert.id}",
                    id=str(alert.id),
                    reason=reason,
                )
            await audit.record(
                "alert.rejected",
                actor=approver,
                object_type="alert",
                object_id=alert.id,
                source=source,
                data={"reason": reason},
            )
        return await Alert.get(id=alert.id)

    async def _publish(
        self, alert: Alert, staff: Staff, *, from_status: AlertStatus, source: str
    ) -> Alert:
        now = utcnow()
        pages = await target_pages(alert)
        async with in_transaction(raw.connection(Alert).connection_name):
            approved = {"approved_by_id": staff.id, "approved_at": now}
            changed = await Alert.filter(id=alert.id, status=from_status).update(
                status=AlertStatus.ACTIVE,
                sent_at=now,
                **(approved if from_status is AlertStatus.PENDING_APPROVAL else {}),
            )
            if changed != 1:
                raise Conflict(_("this alert changed meanwhile"))
            alert = await Alert.get(id=alert.id)
            for page in pages:
                publication, messages = await self._post(alert, page, now)
                audience = self._audience(alert, page, publication, messages, now)
                recipients = await plan_audience(audience, messages, now, self.settings)
                await Publication.filter(id=publication.id).update(recipients=recipients)
            await audit.record(
                "alert.sent",
                actor=staff,
                object_type="alert",
                object_id=alert.id,
                source=source,
                data={"pages": len(pages)},
            )
        return alert

    def _audience(
        self,
        alert: Alert,
        page: Page,
        publication: Publication,
        messages: dict[str, OutboundMessage],
        now: datetime,
    ) -> Audience:
        return Audience(
            publication_id=publication.id,
            page_id=page.id,
            unit_id=page.unit.id,
            category=alert.category,
            kind=DeliveryKind.ALERT,
            dedup_prefix=f"alert:{alert.id}",
            default_locale=page.default_locale,
            locales=tuple(sorted(messages)),
            not_before=now,
            relay=True,  # every alert asks shared accounts to tell their households
        )

    async def _post(
        self, alert: Alert, page: Page, now: datetime
    ) -> tuple[Publication, dict[str, OutboundMessage]]:
        """The alert as a published post of ``page`` (shown on its public page), and its
        publication carrying the message in every language."""
        post = await Post.create(
            page=page,
            category=PostCategory(alert.category),
            status=PostStatus.PUBLISHED,
            author_id=alert.created_by_id,  # type: ignore[attr-defined]
            approved_by_id=alert.approved_by_id,  # type: ignore[attr-defined]
            approved_at=alert.approved_at,
            schedule_kind=ScheduleKind.NOW,
            expires_at=alert.expires_at,
            alert=alert,
            published_at=now,
        )
        title = (
            f"{self.i18n.gettext(page.default_locale, _PREFIX[alert.msg_type])}: {alert.headline}"
        )
        await PostTranslation.create(
            post=post,
            locale=page.default_locale,
            title=title[:300],
            body=self._body(alert, page.default_locale),
        )
        messages = {locale: self.render(alert, page, locale) for locale in SUPPORTED_LOCALES}
        publication = await Publication.create(
            post=post,
            occurrence_at=now,
            status=PublicationStatus.SENDING,
            messages={locale: message.to_payload() for locale, message in messages.items()},
        )
        await add_relay_messages(publication, messages, self.i18n)
        return publication, messages

    def _body(self, alert: Alert, locale: str) -> str:
        gettext = self.i18n.gettext
        lines = [alert.description] if alert.description else []
        if alert.subject_name or alert.subject_description:
            who = " — ".join(x for x in (alert.subject_name, alert.subject_description) if x)
            lines.append(gettext(locale, "Who: {who}", who=who))
        if alert.last_seen_place or alert.last_seen_at:
            when = (
                format_datetime(alert.last_seen_at, locale, self.settings.tz)
                if alert.last_seen_at
                else ""
            )
            where = ", ".join(x for x in (alert.last_seen_place, when) if x)
            lines.append(gettext(locale, "Last seen: {where}", where=where))
        if alert.instruction:
            lines.append(alert.instruction)
        if alert.contact_phone:
            lines.append(gettext(locale, "Call: {phone}", phone=alert.contact_phone))
        return "\n".join(lines)

    def render(self, alert: Alert, page: Page, locale: str) -> OutboundMessage:
        """The alert message as a follower reading ``locale`` receives it."""
        gettext = self.i18n.gettext
        label = gettext(locale, POST_CATEGORY_LABELS[alert.category])
        prefix = gettext(locale, _PREFIX[alert.msg_type])
        url = f"{self.settings.public_base_url}/a/{alert.identifier}"
        media = None
        if alert.photo_path and alert.msg_type is not AlertMessageType.CANCEL:
            media = Media(MediaKind.PHOTO, f"{url}/photo")
        parts = [
            f"🚨 {prefix} · {label}\n{alert.headline}",
            self._body(alert, locale),
            f"— {page.title}",
        ]
        return OutboundMessage(
            text="\n\n".join(part for part in parts if part),
            buttons=((Button(gettext(locale, "Details"), url, ButtonKind.URL),),),
            media=media,
        )

    async def update(
        self, staff: Staff, alert_id: int, data: AlertInput, *, source: str = "web"
    ) -> Alert:
        """A new message (msgType Update) to exactly the alert's recipients."""
        return await self._follow_up(staff, alert_id, AlertMessageType.UPDATE, data, source)

    async def cancel(self, staff: Staff, alert_id: int, note: str, *, source: str = "web") -> Alert:
        """End the alert ("found", "no longer needed"): a Cancel message to exactly its
        recipients; what is still queued of earlier messages is withdrawn."""
        original = await self._original(staff, alert_id)
        data = AlertInput(
            category=original.category,
            headline=original.headline,
            description=clean_message(note).strip(),
            contact_phone=original.contact_phone,
        )
        return await self._follow_up(staff, alert_id, AlertMessageType.CANCEL, data, source)

    async def _original(self, staff: Staff, alert_id: int) -> Alert:
        alert = await get_alert(staff, alert_id)
        while alert.references_id is not None:  # type: ignore[attr-defined]
            alert = await Alert.get(id=alert.references_id)  # type: ignore[attr-defined]
        return alert

    async def _follow_up(
        self,
        staff: Staff,
        alert_id: int,
        kind: AlertMessageType,
        data: AlertInput,
        source: str,
    ) -> Alert:
        now = utcnow()
        original = await self._original(staff, alert_id)
        if original.status is not AlertStatus.ACTIVE:
            raise Conflict(_("this alert is not active: it was not sent, or it has ended"))
        fields = _fields(replace(data, pages=(), units=()), now)
        chain = await _chain(original)
        latest = chain[-1]
        async with in_transaction(raw.connection(Alert).connection_name):
            message = await Alert.create(
                identifier=_identifier(now),
                issuing_unit_id=original.issuing_unit_id,  # type: ignore[attr-defined]
                references=latest,
                msg_type=kind,
                status=AlertStatus.CLOSED
                if kind is AlertMessageType.CANCEL
                else AlertStatus.ACTIVE,
                created_by=staff,
                approved_by_id=original.approved_by_id,  # type: ignore[attr-defined]
                approved_at=original.approved_at,
                sent_at=now,
                **fields,
            )
            for target in await AlertTarget.filter(alert_id=original.id):
                await AlertTarget.create(
                    alert=message,
                    unit_id=target.unit_id,  # type: ignore[attr-defined]
                    page_id=target.page_id,  # type: ignore[attr-defined]
                    include_subtree=target.include_subtree,
                )
            originals = await Publication.filter(post__alert_id=original.id).select_related(
                "post", "post__page", "post__page__unit"
            )
            for old in originals:
                page = old.post.page
                publication, messages = await self._post(message, page, now)
                count = await _plan_to_recipients(
                    old.id, publication.id, message, original, page, messages, now
                )
                await Publication.filter(id=publication.id).update(recipients=count)
            if kind is AlertMessageType.CANCEL:
                # After planning (which reads the original's rows): withdraw what is queued.
                await Alert.filter(id__in=[a.id for a in chain]).update(status=AlertStatus.CLOSED)
                for publication_id in await Publication.filter(
                    post__alert_id__in=[a.id for a in chain], status=PublicationStatus.SENDING
                ).values_list("id", flat=True):
                    await outbox.cancel_publication(int(publication_id))  # type: ignore[call-overload]
            await audit.record(
                f"alert.{kind.value.lower()}",
                actor=staff,
                object_type="alert",
                object_id=message.id,
                source=source,
                data={"original": original.id},
            )
        return message


async def _chain(original: Alert) -> list[Alert]:
    """The original and every message that follows it, oldest first."""
    chain = [original]
    while True:
        following = await Alert.filter(references_id=chain[-1].id).order_by("id").first()
        if following is None:
            return chain
        chain.append(following)


_TO_RECIPIENTS = """
INSERT INTO delivery (channel_account_id, contact_id, group_id, kind, priority, dedup_key,
                      payload, publication_id, status, attempts, not_before, created_at)
SELECT d.channel_account_id, d.contact_id, d.group_id, :kind, :priority,
       CAST(:prefix AS TEXT) ||
       CASE WHEN d.contact_id IS NULL THEN 'g:' || CAST(d.group_id AS TEXT)
            ELSE 'c:' || CAST(d.contact_id AS TEXT) END,
       {payload}, :publication, 'pending', 0, :now, :now
  FROM delivery d
  LEFT JOIN contact c ON c.id = d.contact_id
 WHERE d.publication_id = :old
   AND d.status IN ('pending', 'sending', 'sent', 'dead')
   AND (d.contact_id IS NULL
        OR (c.erased_at IS NULL AND c.reachability != 'unreachable'
            AND EXISTS (SELECT 1 FROM follow f
                         WHERE f.contact_id = d.contact_id AND f.status = 'active'
                           AND f.page_id IN (SELECT page_id FROM post WHERE alert_id = :original))))
ON CONFLICT (dedup_key) DO NOTHING
"""


async def _plan_to_recipients(
    old_publication: int,
    publication: int,
    message: Alert,
    original: Alert,
    page: Page,
    messages: dict[str, OutboundMessage],
    now: datetime,
) -> int:
    """Plan ``message`` for the recipients of the original alert's ``old_publication``: the
    same contacts and groups, on the same accounts, each in their language; anyone who has
    stopped following every page of the alert, or was erased, is left out."""
    payload, params = payload_sql(sorted(messages), page.default_locale, relay=True)
    return await raw.execute(
        Delivery,
        _TO_RECIPIENTS.replace("{payload}", payload),
        kind=DeliveryKind.ALERT.value,
        priority=int(PRIORITY_OF_KIND[DeliveryKind.ALERT]),
        prefix=f"alert:{message.id}:",
        publication=publication,
        now=now,
        old=old_publication,
        original=original.id,
        **params,
    )


async def expire_alerts(now: datetime | None = None) -> int:
    """Active alerts past their expiry become expired (the ticker runs this)."""
    return await Alert.filter(status__in=LIVE, expires_at__lte=now or utcnow()).update(
        status=AlertStatus.EXPIRED
    )
