"""A tip's photos, files and voice notes: fetched from the platform after intake, cleaned,
stored, and shown to officers through short-lived links.

The resident's conversation records each file as a `TipAttachment` in state ``pending`` with
the platform's reference sealed. `fetch_pending` (a ticker job) downloads them *outside* any
database transaction — a slow platform never holds the database — through the account's
adapter, stores them in the media store (`communepol.media`: type decided by the bytes, photo
metadata — EXIF, GPS, XMP — stripped; voice notes and PDFs kept as sent; anything else
refused), and forgets the platform reference. A failure is retried on later ticks and given up
after `ATTEMPTS`, with the reason kept for officers (in English, the refusal's msgid when it has
no values: it is shown through the catalog, so it reads in the officer's language).

An officer who may see the tip (`tips.access_tip`) gets each stored photo as a message whose
media is a link ``/tipfile/<id>/<expires>/<signature>`` (the platforms fetch the photo from it
to show it in the officer's chat), and each voice note or PDF as a message with a button
opening that link. The signature is a keyed hash of the id and the expiry, so a
link works for `LINK_LIFETIME` and only for that file; the response is never cached.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from communepol.clock import utcnow
from communepol.crypto import DecryptionError, Keyring
from communepol.db.models import AttachmentStatus, Staff, TipAttachment
from communepol.errors import CommunepolError, NotFound, ValidationError
from communepol.i18n import I18n, _
from communepol.media import AUDIO_CONTENT_TYPES, IMAGE_CONTENT_TYPES, PDF, MediaStore
from communepol.ports import (
    Button,
    ButtonKind,
    Media,
    MediaKind,
    OutboundMessage,
    PermanentSendError,
    SendError,
)
from communepol.services import notices, tips
from communepol.services.channels import ChannelRegistry
from communepol.services.tipcards import reference_of

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024  # the Telegram Bot API serves files up to 20 MB
ATTEMPTS = 5
BATCH = 10
LINK_LIFETIME = timedelta(hours=24)
LINK_PURPOSE = "tip-media-link"
ACCEPTED = IMAGE_CONTENT_TYPES | AUDIO_CONTENT_TYPES | {PDF.content_type}


def store_for(data_dir: Path) -> MediaStore:
    return MediaStore(data_dir / "media")


async def fetch_pending(
    keyring: Keyring, registry: ChannelRegistry, store: MediaStore, *, limit: int = BATCH
) -> int:
    """Download, clean and store up to ``limit`` pending attachments; how many were stored."""
    stored = 0
    for row in (
        await TipAttachment.filter(status=AttachmentStatus.PENDING).order_by("id").limit(limit)
    ):
        # Claim the attempt: of two processes, one fetches.
        claimed = await TipAttachment.filter(
            id=row.id, status=AttachmentStatus.PENDING, attempts=row.attempts
        ).update(attempts=row.attempts + 1)
        if not claimed:
            continue
        try:
            media = _source(keyring, row)
            if row.channel_account_id is None:
                raise ValidationError(_("no channel to fetch the file from"))
            _account, channel = await registry.get(row.channel_account_id)
            download = getattr(channel, "download", None)
            if download is None:
                raise ValidationError(_("files cannot be fetched from this channel"))
            data = await download(media, max_bytes=MAX_BYTES)
            saved = await asyncio.to_thread(store.save, data, allowed=ACCEPTED, max_bytes=MAX_BYTES)
        except ValidationError as err:
            await _fail(row, err.message)
            continue
        except PermanentSendError:
            await _fail(row, _("the platform no longer has this file"))
            continue
        except (SendError, CommunepolError, OSError) as err:
            log.warning("tip attachment %s not fetched: %s", row.id, type(err).__name__)
            if row.attempts + 1 >= ATTEMPTS:
                await _fail(row, _("the platform did not deliver the file"))
            continue
        await TipAttachment.filter(id=row.id).update(
            status=AttachmentStatus.STORED,
            storage_path=saved.path,
            sha256=saved.sha256,
            size_bytes=saved.size,
            content_type=saved.content_type,
            metadata_stripped=saved.content_type in IMAGE_CONTENT_TYPES,
            source_sealed=None,
            error=None,
        )
        stored += 1
    return stored


def _source(keyring: Keyring, row: TipAttachment) -> Media:
    try:
        value = keyring.box("tip-attachment").open_json(row.source_sealed or "")
    except DecryptionError as err:
        raise ValidationError(_("the file reference is unreadable")) from err
    return Media(
        kind=MediaKind(value["kind"]),
        ref=str(value["ref"]),
        name=value.get("name"),
        mime_type=value.get("mime"),
        size=value.get("size"),
    )


async def _fail(row: TipAttachment, reason: str) -> None:
    await TipAttachment.filter(id=row.id).update(
        status=AttachmentStatus.FAILED, error=reason[:200], source_sealed=None
    )


def _signature(keyring: Keyring, attachment_id: int, expires: int) -> str:
    return keyring.keyed_hash(LINK_PURPOSE, str(attachment_id), str(expires))[:32]


def link(keyring: Keyring, base_url: str, attachment_id: int) -> str:
    expires = int((utcnow() + LINK_LIFETIME).timestamp())
    signature = _signature(keyring, attachment_id, expires)
    return f"{base_url.rstrip('/')}/tipfile/{attachment_id}/{expires}/{signature}"


@dataclass(frozen=True)
class LinkedFile:
    path: str
    content_type: str


async def linked_file(
    keyring: Keyring, attachment_id: int, expires: int, signature: str
) -> LinkedFile:
    """The stored file a link names, if the link is genuine and unexpired; `NotFound` else."""
    expected = _signature(keyring, attachment_id, expires)
    if not hmac.compare_digest(expected, signature) or expires < utcnow().timestamp():
        raise NotFound("not found")
    row = await TipAttachment.get_or_none(id=attachment_id, status=AttachmentStatus.STORED)
    if row is None:
        raise NotFound("not found")
    return LinkedFile(row.storage_path, row.content_type)


async def attachment_messages(
    keyring: Keyring,
    staff: Staff,
    tip_ref: int | str,
    base_url: str,
    *,
    locale: str | None = None,
    i18n: I18n | None = None,
) -> list[OutboundMessage]:
    """One message per stored file of the tip (the file as its media), then a line about any
    still being fetched or refused; for a staff member who may see the tip."""
    tip = await tips.access_tip(staff, tip_ref)
    catalog = i18n or notices.catalog()
    lang = locale or staff.locale
    rows = await TipAttachment.filter(tip_id=tip.id).order_by("id")
    messages = []
    stored = [row for row in rows if row.status is AttachmentStatus.STORED]
    for number, row in enumerate(stored, start=1):
        caption = f"{reference_of(tip)} · {number}/{len(stored)}"
        url = link(keyring, base_url, row.id)
        if row.content_type in IMAGE_CONTENT_TYPES:
            photo = Media(kind=MediaKind.PHOTO, ref=url, mime_type=row.content_type)
            messages.append(OutboundMessage(text=caption, media=photo))
            continue
        # A voice note or a PDF is a link to open: not every platform can send one from a
        # URL (a Zalo OA sends photos only), every platform can show a link button.
        label = (
            catalog.gettext(lang, "Play the voice note")
            if row.content_type in AUDIO_CONTENT_TYPES
            else catalog.gettext(lang, "Open the file")
        )
        messages.append(
            OutboundMessage(text=caption, buttons=((Button(label, url, ButtonKind.URL),),))
        )
    pending = sum(1 for row in rows if row.status is AttachmentStatus.PENDING)
    failed = [row for row in rows if row.status is AttachmentStatus.FAILED]
    if pending:
        messages.append(
            OutboundMessage(
                text=catalog.gettext(
                    lang,
                    "{count} files are still being fetched; try again in a minute.",
                    count=pending,
                )
            )
        )
    for row in failed:
        messages.append(
            OutboundMessage(
                text=catalog.gettext(
                    lang,
                    "A file could not be kept: {reason}",
                    reason=catalog.gettext(lang, row.error) if row.error else "—",
                )
            )
        )
    if not rows:
        messages.append(OutboundMessage(text=catalog.gettext(lang, "This tip has no files.")))
    return messages
