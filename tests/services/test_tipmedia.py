"""A tip's files: recorded during the conversation, fetched afterwards from the fake Telegram
Bot API (getFile, then the file URL), stored without photo metadata, refused when they are
videos, given up when the platform no longer has them — and shown to officers in scope
through signed links that expire."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tortoise.context import TortoiseContext

from bots.registry import channel_factory
from communepol.app import create_app
from communepol.clock import utcnow
from communepol.db.models import AttachmentStatus, ChannelKind, Contact, Staff, TipAttachment
from communepol.errors import NotFound
from communepol.ports import Media, MediaKind
from communepol.services import tipmedia
from communepol.services.channels import ChannelRegistry, create_channel_account
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from communepol.web.chathub import WebchatHub
from tests import pagekit
from tests.e2e.test_officer_post import SECRET_PLACE, png_with_metadata
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeTelegram

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
VOICE = b"OggS\x00\x02" + b"\x00" * 40  # the start of an Ogg/Opus voice note
VIDEO = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 40  # an MP4 video: may carry where it was shot


class Desk:
    fake: FakeTelegram
    registry: ChannelRegistry
    settings: Settings
    resident: Contact
    officer: Staff
    stranger: Staff


@pytest.fixture
async def desk(db: TortoiseContext, settings: Settings) -> AsyncIterator[Desk]:
    async with FakeTelegram() as fake:
        d = Desk()
        d.fake = fake
        d.settings = replace(settings, telegram_api_base=fake.base_url)
        account = await create_channel_account(
            pagekit.KEYRING, kind=ChannelKind.TELEGRAM, name="bot", secrets={"token": "1:T"}
        )
        d.registry = ChannelRegistry(pagekit.KEYRING, channel_factory(d.settings, WebchatHub()))
        province = await pagekit.unit("Tỉnh Đắk Lắk", pagekit.UnitLevel.PROVINCE)
        commune = await pagekit.unit("Xã Ea Kar", parent=province)
        other = await pagekit.unit("Xã Ea Păl", parent=province)
        d.officer = await pagekit.staff(commune)
        d.stranger = await pagekit.staff(other, name="Officer of Ea Păl")
        d.resident = await pagekit.contact(account, "4242")
        fake.add_file("photo-1", png_with_metadata(), file_path="photos/file_1.png")
        fake.add_file("voice-1", VOICE, file_path="voice/file_2.oga")
        fake.add_file("video-1", VIDEO, file_path="videos/file_3.mp4")
        await Tips(pagekit.KEYRING).submit(
            d.resident,
            TipInput(
                category="theft",
                text="Kẻ trộm xe máy, ảnh và ghi âm kèm theo",
                unit_id=commune.id,
                media=[
                    Media(MediaKind.PHOTO, "photo-1"),
                    Media(MediaKind.VOICE, "voice-1"),
                    Media(MediaKind.VIDEO, "video-1"),
                    Media(MediaKind.FILE, "gone-1"),  # Telegram no longer has it
                ],
            ),
        )
        yield d
        await d.registry.close()


async def _fetch(d: Desk) -> int:
    store = tipmedia.store_for(d.settings.data_dir)
    return await tipmedia.fetch_pending(pagekit.KEYRING, d.registry, store)


async def test_files_are_fetched_after_intake_cleaned_and_refused_by_kind(desk: Desk) -> None:
    assert await TipAttachment.filter(status=AttachmentStatus.PENDING).count() == 4
    assert not desk.fake.calls_to("getFile")  # intake only records them

    assert await _fetch(desk) == 2
    photo, voice, video, gone = await TipAttachment.all().order_by("id")
    assert (photo.status, photo.content_type, photo.metadata_stripped) == (
        AttachmentStatus.STORED,
        "image/png",
        True,
    )
    stored = (desk.settings.data_dir / "media" / photo.storage_path).read_bytes()
    assert stored.startswith(b"\x89PNG") and SECRET_PLACE not in stored
    assert (voice.status, voice.content_type) == (AttachmentStatus.STORED, "audio/ogg")
    assert video.status is AttachmentStatus.FAILED
    assert video.error == "this kind of file is not accepted"
    assert gone.status is AttachmentStatus.FAILED
    # Once fetched or given up, the platform's reference is forgotten.
    assert all(row.source_sealed is None for row in (photo, voice, video, gone))
    assert await _fetch(desk) == 0  # nothing left to do


async def test_a_platform_outage_is_retried_then_given_up(desk: Desk) -> None:
    desk.fake.fail_always(Fault("server_error"))
    for _ in range(tipmedia.ATTEMPTS - 1):
        assert await _fetch(desk) == 0
        assert await TipAttachment.filter(status=AttachmentStatus.PENDING).count() == 4
    desk.fake.fail_always(None)
    assert await _fetch(desk) == 2  # the last attempt works for the files that exist


async def test_officers_in_scope_get_signed_links_that_expire(
    desk: Desk, aiohttp_client: ClientFactory
) -> None:
    await _fetch(desk)
    messages = await tipmedia.attachment_messages(
        pagekit.KEYRING, desk.officer, 1, desk.settings.public_base_url, locale="en"
    )
    media = [m.media for m in messages if m.media is not None]
    assert [m.kind for m in media] == [MediaKind.PHOTO]
    [voice] = [m for m in messages if m.buttons]
    [[play]] = voice.buttons
    assert play.label == "Play the voice note" and play.action.startswith(
        f"{desk.settings.public_base_url}/tipfile/"
    )
    assert sum("could not be kept" in m.text for m in messages) == 2
    # The platform's refusal is kept in English and read in the officer's language.
    assert "A file could not be kept: the platform no longer has this file" in [
        m.text for m in messages
    ]
    in_vietnamese = await tipmedia.attachment_messages(
        pagekit.KEYRING, desk.officer, 1, desk.settings.public_base_url, locale="vi"
    )
    assert "Một tệp không lưu được: nền tảng không còn lưu tệp này" in [
        m.text for m in in_vietnamese
    ]
    with pytest.raises(NotFound):
        await tipmedia.attachment_messages(
            pagekit.KEYRING, desk.stranger, 1, desk.settings.public_base_url
        )

    client = await aiohttp_client(create_app(desk.settings, run_workers=False))
    path = media[0].ref.removeprefix(desk.settings.public_base_url)
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.read()
    assert body.startswith(b"\x89PNG") and SECRET_PLACE not in body

    attachment_id, expires, signature = path.split("/")[2:]
    forged = f"/tipfile/{int(attachment_id) + 1}/{expires}/{signature}"  # another file
    assert (await client.get(forged)).status == 404
    past = int(utcnow().timestamp()) - 1
    signed = tipmedia._signature(pagekit.KEYRING, int(attachment_id), past)
    assert (await client.get(f"/tipfile/{attachment_id}/{past}/{signed}")).status == 404


async def test_a_refused_files_reason_reads_in_the_officers_language(desk: Desk) -> None:
    # A photo that says it is a JPEG and holds no picture: refused by the media store's walker.
    desk.fake.add_file("broken-1", b"\xff\xd8\xff\xd9", file_path="photos/file_4.jpg")
    done = await Tips(pagekit.KEYRING).submit(
        desk.resident,
        TipInput(
            category="theft",
            text="Ảnh chụp biển số xe",
            unit_id=desk.officer.unit_id,  # type: ignore[attr-defined]
            media=[Media(MediaKind.PHOTO, "broken-1")],
        ),
    )
    await _fetch(desk)
    [broken] = await TipAttachment.filter(tip_id=done.tip.id)
    assert broken.error == "the JPEG has no image data"  # kept in English

    base = desk.settings.public_base_url
    shown = {
        locale: {
            m.text
            for tip_id in (1, done.tip.id)
            for m in await tipmedia.attachment_messages(
                pagekit.KEYRING, desk.officer, tip_id, base, locale=locale
            )
        }
        for locale in ("vi", "en")
    }
    assert {
        "Một tệp không lưu được: tệp JPEG không có dữ liệu ảnh",
        "Một tệp không lưu được: loại tệp này không được chấp nhận",  # the video of tip 1
    } <= shown["vi"]
    assert {
        "A file could not be kept: the JPEG has no image data",
        "A file could not be kept: this kind of file is not accepted",
    } <= shown["en"]
