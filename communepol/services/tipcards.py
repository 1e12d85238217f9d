"""How a tip reads, for the officer who must act on it and for the resident who sent it.

A `TipCard` is what an officer's notification and ``/tip`` show: reference, category,
urgency, unit, status, deadlines, the sender as officers may see them (alias or agreed
name), the text, where, the fraud answers, the attachments — and the action buttons
(``tk:<tip id>:<action>``; the services check scope again whatever a payload says). It never
carries a platform id, a phone or the name of an anonymous sender: it is built only from the
tip row and the label `tips.sender_label` gives.

The resident's messages (a relayed reply, a change of status) are composed here too, in the
resident's language, always naming the tip by its reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from communepol.db.models import (
    OPEN_TIP_STATUSES,
    AttachmentStatus,
    Tip,
    TipAttachment,
    TipCategory,
    TipStatus,
    Unit,
)
from communepol.i18n import (
    N_,
    TIP_CATEGORY_LABELS,
    TIP_STATUS_LABELS,
    TIP_URGENCY_LABELS,
    I18n,
    format_datetime,
)
from communepol.ports import Button, OutboundMessage

ACTION = "tk"  # tk:<tip id>:<verb>
NEW_TIP = N_("New tip")
TIP_ADDED = N_("The resident added to a tip")
ESCALATED = N_("Overdue tip, escalated to you")
EXCERPT = 700

FRAUD_LABELS = {
    "bank": N_("Bank"),
    "amount": N_("Amount"),
    "transfer_time": N_("Time of transfer"),
    "accounts": N_("Account numbers"),
}

STATUS_NEWS = {
    TipStatus.ACKNOWLEDGED: N_("Your tip {reference} was received by an officer."),
    TipStatus.IN_PROGRESS: N_("An officer is now working on your tip {reference}."),
    TipStatus.RESOLVED: N_("Your tip {reference} is resolved."),
    TipStatus.REJECTED: N_("Your tip {reference} was closed without action."),
    TipStatus.DUPLICATE: N_(
        "Your tip {reference} is handled together with an earlier report of the same thing."
    ),
}


def reference_of(tip: Tip) -> str:
    return f"T-{tip.reference}"


def excerpt(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class TipCard:
    tip: Tip
    unit_name: str
    sender: str
    photos: int
    files: int
    pending_files: int

    @classmethod
    async def of(cls, tip: Tip, sender: str) -> TipCard:
        unit = await Unit.get(id=tip.unit_id)  # type: ignore[attr-defined]
        attachments = await TipAttachment.filter(tip_id=tip.id).values_list("kind", "status")
        photos = sum(1 for kind, status in attachments if kind == "photo" and status != "failed")
        files = sum(1 for kind, status in attachments if kind != "photo" and status != "failed")
        pending = sum(1 for _, status in attachments if status == AttachmentStatus.PENDING.value)
        return cls(tip, unit.name, sender, photos, files, pending)

    def text(self, i18n: I18n, locale: str, *, headline: str | None = None) -> str:
        tip = self.tip

        def _(message: str, **params: object) -> str:
            return i18n.gettext(locale, message, **params)

        lines = []
        if headline:
            lines.append(f"🔔 {_(headline)}")
        urgency = _(TIP_URGENCY_LABELS[tip.urgency.value])
        lines.append(
            _(
                "Tip {reference} · {category} · {urgency}",
                reference=reference_of(tip),
                category=_(TIP_CATEGORY_LABELS[tip.category.value]),
                urgency=urgency.upper() if tip.urgency.value == "critical" else urgency,
            )
        )
        lines.append(
            _(
                "{unit} · {status} · from {sender}",
                unit=self.unit_name,
                status=_(TIP_STATUS_LABELS[tip.status.value]),
                sender=self.sender,
            )
        )
        if tip.status in OPEN_TIP_STATUSES:
            due = _due(tip)
            if due is not None:
                label, moment = due
                lines.append(_(label, when=format_datetime(moment, locale, i18n.timezone)))
        lines.append("")
        lines.append(excerpt(tip.text))
        for key, label in FRAUD_LABELS.items():  # in the order the bot asks them
            if tip.details.get(key):
                lines.append(f"{_(label)}: {tip.details[key]}")
        if tip.location_lat is not None and tip.location_lng is not None:
            lines.append(
                _(
                    "Location: {lat:.5f}, {lng:.5f} https://maps.google.com/?q={lat:.5f},{lng:.5f}",
                    lat=tip.location_lat,
                    lng=tip.location_lng,
                )
            )
        if tip.location_text:
            lines.append(_("Place: {place}", place=tip.location_text))
        if self.photos or self.files:
            lines.append(
                _(
                    "Attachments: {photos} photos, {files} files",
                    photos=self.photos,
                    files=self.files,
                )
            )
        if tip.outcome and tip.status not in OPEN_TIP_STATUSES:
            lines.append(_("Outcome: {outcome}", outcome=tip.outcome))
        return "\n".join(lines)

    def buttons(self, i18n: I18n, locale: str) -> tuple[tuple[Button, ...], ...]:
        def b(label: str, verb: str) -> Button:
            return Button(i18n.gettext(locale, label), f"{ACTION}:{self.tip.id}:{verb}")

        tip = self.tip
        if tip.status not in OPEN_TIP_STATUSES:
            return ((b(N_("Add note"), "note"),),)
        rows: list[tuple[Button, ...]] = []
        if tip.status is TipStatus.NEW:
            rows.append((b(N_("Acknowledge"), "ack"), b(N_("Take"), "take")))
        elif tip.status is TipStatus.ACKNOWLEDGED:
            rows.append((b(N_("Take"), "take"),))
        rows.append((b(N_("Reply"), "reply"), b(N_("Add note"), "note")))
        if tip.category is TipCategory.RUMOUR_CHECK:
            rows.append((b(N_("Give verdict"), "verdict"),))
        rows.append(
            (b(N_("Resolve"), "resolve"), b(N_("Reject"), "reject"), b(N_("Duplicate"), "dup"))
        )
        if self.photos or self.files:
            rows.append((b(N_("Show attachments"), "files"),))
        return tuple(rows)

    def message(self, i18n: I18n, locale: str, *, headline: str | None = None) -> OutboundMessage:
        return OutboundMessage(
            text=self.text(i18n, locale, headline=headline), buttons=self.buttons(i18n, locale)
        )


def _due(tip: Tip) -> tuple[str, datetime] | None:
    if tip.first_response_at is None and tip.first_response_due_at is not None:
        return N_("First response due {when}"), tip.first_response_due_at
    if tip.resolution_due_at is not None:
        return N_("Resolution due {when}"), tip.resolution_due_at
    return None


def reply_to_resident(i18n: I18n, locale: str | None, tip: Tip, body: str) -> OutboundMessage:
    """An officer's reply as the resident receives it, with a button to answer."""
    lang = i18n.normalize_locale(locale)
    return OutboundMessage(
        text=i18n.gettext(
            lang,
            "Police reply about your tip {reference}:\n{text}",
            reference=reference_of(tip),
            text=body,
        ),
        buttons=((Button(i18n.gettext(lang, "Answer"), f"tipadd:{tip.reference}"),),),
    )


def status_to_resident(
    i18n: I18n, locale: str | None, tip: Tip, status: TipStatus, told: str | None
) -> OutboundMessage:
    lang = i18n.normalize_locale(locale)
    text = i18n.gettext(lang, STATUS_NEWS[status], reference=reference_of(tip))
    if told:
        text += "\n" + i18n.gettext(lang, "The officer wrote: {text}", text=told)
    buttons: tuple[tuple[Button, ...], ...] = ()
    if status in OPEN_TIP_STATUSES:
        buttons = ((Button(i18n.gettext(lang, "Add information"), f"tipadd:{tip.reference}"),),)
    return OutboundMessage(text=text, buttons=buttons)
