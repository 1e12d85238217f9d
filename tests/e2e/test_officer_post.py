"""An officer's post with a photo, through the fake Telegram Bot API in its real wire format:
the updates are Telegram's JSON parsed by the real adapter, the photo is fetched with
``getFile`` and the file URL on the configured API base, stored without its metadata and
published with the post. The Zalo adapters fetch a photo from the URL their events carry,
with the same size cap."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from bots.conversation import BotServices, ConversationEngine
from bots.registry import channel_factory
from bots.zalo_bot import ZaloBotChannel
from bots.zalo_oa import ZaloOAChannel
from communepol.clock import utcnow
from communepol.db.models import (
    Alert,
    AlertStatus,
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    Post,
    PostAttachment,
    PostStatus,
    Publication,
    UnitLevel,
)
from communepol.errors import ValidationError
from communepol.i18n import I18n
from communepol.ports import Media, MediaKind, PermanentSendError
from communepol.services import staff as roster
from communepol.services.channels import ChannelRegistry, create_channel_account
from communepol.services.posts import Publisher
from communepol.settings import Settings
from communepol.web.chathub import WebchatHub
from tests import pagekit
from tests.bots.test_officer import conversations
from tests.e2e.conftest import TG_SECRET, ZB_SECRET
from tests.fakes.base import Call
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo_bot import FakeZaloBot
from tests.fakes.zalo_oa import FakeZaloOA

I18N = I18n.load(default_locale="vi")
OFFICER = 5150  # the officer's Telegram user id
SECRET_PLACE = b"Buon Ma Thuot 12.6675,108.0378"


def png_with_metadata() -> bytes:
    """A 1×1 PNG carrying a text chunk that names a place (what stripping must remove)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", b"Location\x00" + SECRET_PLACE)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


@dataclass
class Bot:
    fake: FakeTelegram
    account: ChannelAccount
    registry: ChannelRegistry
    engine: ConversationEngine
    settings: Settings
    update_id: int = 0

    async def post(self, update: dict[str, object]) -> None:
        """One webhook body, parsed by the real adapter and run as the inbox worker runs it."""
        _, channel = await self.registry.get(self.account.id)
        for event in channel.parse(json.dumps(update).encode()):
            self.update_id += 1
            await self.engine(self.account.id, self.update_id, event)

    async def send(self, text: str) -> None:
        self.update_id += 1
        await self.post(FakeTelegram.text_update(self.update_id, OFFICER, text))

    async def press(self, action: str) -> None:
        self.update_id += 1
        await self.post(FakeTelegram.callback_update(self.update_id, OFFICER, action))

    async def photo(self, file_id: str) -> None:
        self.update_id += 1
        await self.post(FakeTelegram.photo_update(self.update_id, OFFICER, file_id=file_id))

    async def last_reply(self) -> str:
        row = await Delivery.filter(kind=DeliveryKind.REPLY).order_by("-id").first()
        assert row is not None
        return str(row.payload["text"])


@pytest.fixture
async def bot(db: TortoiseContext, settings: Settings) -> AsyncIterator[Bot]:
    async with FakeTelegram() as fake:
        configured = replace(settings, telegram_api_base=fake.base_url)
        account = await create_channel_account(
            pagekit.KEYRING,
            kind=ChannelKind.TELEGRAM,
            name="province bot",
            secrets={"token": "123456:TEST", "webhook_secret": TG_SECRET},
        )
        registry = ChannelRegistry(pagekit.KEYRING, channel_factory(configured, WebchatHub()))
        services = BotServices(settings=configured, keyring=pagekit.KEYRING, channels=registry)
        engine = ConversationEngine(conversations(), pagekit.KEYRING, I18N, services=services)
        yield Bot(fake, account, registry, engine, configured)
        await registry.close()


async def _officer_writing(bot: Bot) -> None:
    """An officer of Xã Ea Kar, linked, up to the photo question of a new post."""
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    commune = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    page = await pagekit.page(commune, "ca-xa-ea-kar", bot.account)
    await pagekit.followers(page, bot.account, 2)
    officer = await pagekit.staff(commune)
    code, _ = await roster.issue_link_code(pagekit.KEYRING, officer)
    await bot.press("lang:en")
    await bot.send(f"/link {code}")
    assert (await bot.last_reply()).startswith("Linked: here you act as Nguyễn Văn An")
    await bot.send("/post")
    await bot.press("op:cat:missing_person")
    await bot.send("Tìm người thân: ông Y Bhin")
    await bot.send("Ông Y Bhin, 70 tuổi, đi khỏi nhà từ sáng 20/11. Ai thấy xin báo công an xã.")
    assert "Send a photo" in await bot.last_reply()


async def test_an_officer_posts_a_photo_which_is_fetched_stripped_and_published(
    bot: Bot,
) -> None:
    await _officer_writing(bot)
    photo = png_with_metadata()
    bot.fake.add_file("AgAD-big", photo, file_path="photos/file_7.png")
    await bot.photo("AgAD-big")
    assert "When should it be published?" in await bot.last_reply()
    assert not bot.fake.calls_to("getFile")  # noted only; fetched at Confirm
    await bot.press("op:when:now")
    assert "Photo: yes" in await bot.last_reply()
    await bot.press("op:confirm")

    post = await Post.get()
    assert (await bot.last_reply()).startswith(f"Post #{post.id} is being published")
    [get_file] = bot.fake.calls_to("getFile")
    assert get_file.params["file_id"] == "AgAD-big"
    [download] = bot.fake.calls_to("file")
    assert download.params == {"_token": "123456:TEST", "file_path": "photos/file_7.png"}
    attachment = await PostAttachment.get(post_id=post.id)
    assert attachment.content_type == "image/png"
    stored = (bot.settings.data_dir / "media" / attachment.storage_path).read_bytes()
    assert SECRET_PLACE not in stored
    assert stored.startswith(b"\x89PNG")

    await Publisher(bot.settings, I18N).publish_due(utcnow() + timedelta(seconds=5))
    assert await Delivery.filter(kind=DeliveryKind.BROADCAST).count() == 2
    publication = await Publication.get(post_id=post.id)
    media = publication.messages["vi"]["media"]  # each follower's row points at it
    assert media["kind"] == "photo"
    assert media["ref"].endswith(f"/media/{attachment.id}/{attachment.filename}")


async def test_a_missing_person_alert_carries_the_photo_without_its_metadata(bot: Bot) -> None:
    await _officer_writing(bot)  # linked; a post half-written is abandoned for the alert
    await bot.send("/alert")
    await bot.press("oa:cat:missing_person")
    await bot.send("Tìm người thân: ông Y Bhin, 70 tuổi")
    await bot.send("Ông đi khỏi nhà từ sáng, chưa về.")
    await bot.send("Y Bhin")  # name
    await bot.send("Chợ Ea Kar")  # last seen where
    await bot.send("17:30")  # last seen when
    assert "Send a photo of the person" in await bot.last_reply()
    bot.fake.add_file("AgAD-alert", png_with_metadata(), file_path="photos/file_9.png")
    await bot.photo("AgAD-alert")
    assert "Which phone number" in await bot.last_reply()
    await bot.press("oa:skip:phone")
    summary = await bot.last_reply()
    assert "Photo: yes" in summary
    await bot.press("oa:confirm")

    alert = await Alert.get()
    assert alert.status is AlertStatus.ACTIVE and alert.photo_path is not None
    stored = (bot.settings.data_dir / alert.photo_path).read_bytes()
    assert stored.startswith(b"\x89PNG") and SECRET_PLACE not in stored
    publication = await Publication.get(post__alert_id=alert.id)
    assert publication.messages["vi"]["media"]["ref"].endswith(f"/a/{alert.identifier}/photo")


async def test_a_photo_too_large_is_refused_and_the_post_can_go_without_it(bot: Bot) -> None:
    await _officer_writing(bot)
    bot.fake.add_file("AgAD-huge", b"\xff\xd8" + b"0" * (6 * 1024 * 1024))
    await bot.photo("AgAD-huge")
    await bot.press("op:when:now")
    await bot.press("op:confirm")
    refused = await bot.last_reply()
    assert refused.startswith("I could not fetch the photo (the file is larger than 5 MB)")
    assert not bot.fake.calls_to("file")  # getFile's size was enough to refuse
    assert not await Post.exists()

    await bot.press("op:nophoto")  # straight back to the summary: the time is kept
    assert "Photo: none" in await bot.last_reply()
    await bot.press("op:confirm")
    post = await Post.get()
    assert post.status is PostStatus.SCHEDULED
    assert not await PostAttachment.exists()


async def test_the_zalo_adapters_fetch_a_photo_from_its_url_with_a_cap() -> None:
    photo = png_with_metadata()
    async with FakeZaloBot() as zalo_bot, FakeZaloOA() as zalo_oa:
        bot_channel = ZaloBotChannel(
            1, {"token": "777:botsecret", "webhook_secret": ZB_SECRET}, api_base=zalo_bot.base_url
        )
        oa_channel = ZaloOAChannel(
            2,
            zalo_oa.account_secrets(),
            api_base=zalo_oa.base_url,
            oauth_base=zalo_oa.base_url,
        )
        try:
            for fake, channel in ((zalo_bot, bot_channel), (zalo_oa, oa_channel)):
                url = fake.host_file("photo.png", photo)
                media = Media(MediaKind.PHOTO, url)
                assert await channel.download(media, max_bytes=1024) == photo
                with pytest.raises(ValidationError, match="larger than"):
                    await channel.download(media, max_bytes=10)
                gone = Media(MediaKind.PHOTO, f"{fake.base_url}/_files/gone.png")
                with pytest.raises(PermanentSendError):
                    await channel.download(gone, max_bytes=1024)
                with pytest.raises(PermanentSendError):
                    await channel.download(Media(MediaKind.STICKER, "sticker-id"), max_bytes=1024)
                assert all(isinstance(call, Call) for call in fake.calls_to("file"))
                assert len(fake.calls_to("file")) == 3
        finally:
            await bot_channel.close()
            await oa_channel.close()
