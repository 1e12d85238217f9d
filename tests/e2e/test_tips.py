"""A tip end to end, through the whole app and the fake platform servers in their real wire
format, on Telegram and on Zalo OA: a resident reports a theft with a photo and their location
→ the officer on duty gets the card in their chat → acknowledges → replies → the reply reaches
the resident → resolves → the resident is told. The ticker fetches the photo from the platform
meanwhile, and the officer opens it through its signed link.

The same story is the anonymity sentinel: the tipster's platform id and name carry a unique
marker, and the marker must appear in nothing officers or supervisors can read — the messages
the platforms delivered to the officer and the supervisor, the tips export, the staff board,
the public pages, the linked file — nor in any log line at DEBUG."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from communepol.db.models import (
    AttachmentStatus,
    AuditEvent,
    ChannelAccount,
    Role,
    Staff,
    Tip,
    TipAttachment,
    TipEvent,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.services import staff as roster
from communepol.services import tipboard
from communepol.services.tips import access_tip
from communepol.settings import Settings
from tests import pagekit
from tests.e2e.conftest import KEYRING, TG_SECRET, Platforms, eventually
from tests.e2e.test_officer_post import SECRET_PLACE, png_with_metadata
from tests.fakes.telegram import FakeTelegram

BASE_URL = "http://127.0.0.1:8080"  # the public address the e2e app is configured with
MARKER = "770077123"  # in the tipster's platform id and in their name
NAME = f"Lan{MARKER}"
USERS: dict[str, dict[str, Any]] = {
    "telegram": {"resident": int(MARKER), "officer": 5150, "chief": 5151},
    "zalo-oa": {
        "resident": f"5550001{MARKER}000",
        "officer": "5550001112223330001",
        "chief": "5550001112223330002",
    },
}
WHAT = "Hai người lạ cạy khóa xe máy ở chợ Ea Kar, một người mặc áo khoác đỏ."
REPLY = "Cảm ơn bạn, tổ tuần tra đang đến chợ. Bạn giữ khoảng cách an toàn."
OUTCOME = "Đã bắt giữ hai đối tượng, trả lại xe cho chủ."
_updates = itertools.count(10_000)


class Phone:
    """One person's app on one platform: what they send goes to the app's webhook in the
    platform's own format; what they read is what the fake platform delivered to them."""

    def __init__(self, p: Platforms, platform: str, user: Any, name: str = "An") -> None:
        self.p, self.platform, self.user, self.name = p, platform, user, name
        self.account = p.accounts[platform]

    async def _post(self, body: dict[str, Any]) -> None:
        if self.platform == "telegram":
            response = await self.p.client.post(
                f"/webhooks/telegram/{self.account}",
                json=body,
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
            )
        else:
            data, headers = self.p.zalo_oa.signed(body)
            response = await self.p.client.post(
                f"/webhooks/zalo-oa/{self.account}", data=data, headers=headers
            )
        assert response.status == 200, await response.text()

    async def send(self, text: str) -> None:
        if self.platform == "telegram":
            await self._post(
                FakeTelegram.text_update(next(_updates), self.user, text, first_name=self.name)
            )
        else:
            await self._post(self.p.zalo_oa.text_event(self.user, text))

    async def press(self, action: str) -> None:
        if self.platform == "telegram":
            await self._post(
                FakeTelegram.callback_update(
                    next(_updates), self.user, action, first_name=self.name
                )
            )
        else:  # a Zalo OA button sends its payload back as the person's text
            await self._post(self.p.zalo_oa.text_event(self.user, f"#cp:{action}"))

    async def photo(self, data: bytes) -> None:
        if self.platform == "telegram":
            self.p.telegram.add_file("AgAD-tip", data, file_path="photos/file_9.png")
            await self._post(
                FakeTelegram.photo_update(
                    next(_updates), self.user, file_id="AgAD-tip", first_name=self.name
                )
            )
        else:
            url = self.p.zalo_oa.host_file("tip.png", data)
            await self._post(self.p.zalo_oa.image_event(self.user, url))

    async def location(self) -> None:
        if self.platform == "telegram":
            await self._post(
                FakeTelegram.location_update(next(_updates), self.user, first_name=self.name)
            )
        else:
            await self._post(self.p.zalo_oa.location_event(self.user))

    def read(self) -> list[str]:
        if self.platform == "telegram":
            return self.p.telegram.sent_texts(self.user)
        return self.p.zalo_oa.sent_texts(self.user)

    def delivered(self) -> list[dict[str, Any]]:
        """Every request the platform got for this person, whole (text, buttons, media)."""
        if self.platform == "telegram":
            return [
                call.params
                for call in self.p.telegram.delivered
                if str(call.params.get("chat_id")) == str(self.user)
            ]
        return [
            {"recipient": message.user_id, **message.message}
            for message in self.p.zalo_oa.sent_to(self.user)
        ]

    async def reads(self, words: str, within: float = 15.0) -> str:
        """Wait until a delivered message contains ``words``; that message."""

        def found() -> str | None:
            return next((text for text in reversed(self.read()) if words in text), None)

        try:
            result: str = await eventually(found, within=within)
        except AssertionError:
            raise AssertionError(f"{words!r} not among {self.read()!r}") from None
        return result


@dataclass
class Story:
    resident: Phone
    officer: Phone
    chief: Phone
    tip: Tip
    staff: Staff
    supervisor: Staff
    district: Unit


async def _linked(phone: Phone, who: Staff) -> None:
    code, _ = await roster.issue_link_code(KEYRING, who)
    await phone.send("/start")
    await phone.reads("Which language")
    await phone.press("lang:en")
    await phone.reads("Language set: English.")
    await phone.send(f"/link {code}")
    await phone.reads("Linked: here you act as")


async def tell_a_tip(p: Platforms, platform: str) -> Story:
    """Everything up to the tip sent: a commune whose page this account carries, its officer
    linked and on duty, the district's supervisor linked, and the resident's anonymous tip."""
    users = USERS[platform]
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    district = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, province)
    commune = await pagekit.unit("Xã Ea Kar", parent=district, code="24340")
    account = await ChannelAccount.get(id=p.accounts[platform])
    await pagekit.page(commune, "ca-xa-ea-kar", account)
    if platform == "zalo-oa":
        p.zalo_oa.add_user(str(users["resident"]), NAME)
    officer_staff = await pagekit.staff(commune, name="Nguyễn Văn Tâm")
    supervisor = await pagekit.staff(district, Role.SUPERVISOR, name="Lê Thị Hồng")
    officer = Phone(p, platform, users["officer"], "Tâm")
    chief = Phone(p, platform, users["chief"], "Hồng")
    await _linked(officer, officer_staff)
    await _linked(chief, supervisor)
    await officer.send("/duty on")
    await officer.reads("You are on duty")

    resident = Phone(p, platform, users["resident"], NAME)
    await resident.send("/start")
    await resident.reads("Which language")
    await resident.press("lang:en")
    await resident.reads("Language set: English.")
    await resident.send("/tip")
    await resident.reads("What is it about?")
    await resident.press("tipc:theft")
    await resident.reads("Write what happened")
    await resident.send(WHAT)
    await resident.reads("Send photos, a file or a voice note")
    await resident.photo(png_with_metadata())
    await resident.reads("Received (1)")
    await resident.press("tipx:done")
    await resident.reads("Where did it happen?")
    await resident.location()
    await resident.reads("Do you want to stay anonymous?")
    await resident.press("tipx:anon")
    await resident.reads("Please check before sending")
    await resident.press("tipx:send")
    receipt = await resident.reads("Your tip was sent.")
    tip = await Tip.get()
    assert f"T-{tip.reference}" in receipt
    return Story(resident, officer, chief, tip, officer_staff, supervisor, district)


@pytest.mark.parametrize("platform", ["telegram", "zalo-oa"])
async def test_a_tip_with_a_photo_and_a_place_is_answered_and_resolved(
    platforms: Platforms, platform: str, settings: Settings
) -> None:
    s = await tell_a_tip(platforms, platform)
    tip, reference = s.tip, f"T-{s.tip.reference}"
    assert tip.anonymous and tip.contact_id is None  # type: ignore[attr-defined]
    assert tip.location_lat is not None and tip.location_lng is not None
    assert tip.text == WHAT

    # The officer on duty gets the card in their chat, in their language, with its buttons.
    card = await s.officer.reads(reference)
    assert card.startswith("🔔 Tin báo mới") and "Người báo tin #" in card
    assert "maps.google.com/?q=" in card

    # The ticker fetches the photo from the platform and keeps it without its metadata.
    async def fetched() -> TipAttachment | None:
        return await TipAttachment.get_or_none(tip_id=tip.id, status=AttachmentStatus.STORED)

    stored = await eventually(fetched, within=20)
    kept = (settings.data_dir / "media" / stored.storage_path).read_bytes()
    assert kept.startswith(b"\x89PNG") and SECRET_PLACE not in kept

    await s.officer.press(f"tk:{tip.id}:ack")
    await s.resident.reads(f"Your tip {reference} was received by an officer.")
    await s.officer.press(f"tk:{tip.id}:reply")
    await s.officer.reads(f"Type your reply to the resident who sent tip {reference}")
    await s.officer.send(REPLY)
    relayed = await s.resident.reads(f"Police reply about your tip {reference}:")
    assert REPLY in relayed and "Tâm" not in relayed  # the officer's name stays with police
    await s.officer.press(f"tk:{tip.id}:resolve")
    await s.officer.reads(f"Type the outcome of tip {reference}")
    await s.officer.send(OUTCOME)
    resolved = await s.resident.reads(f"Your tip {reference} is resolved.")
    assert OUTCOME in resolved

    tip = await Tip.get(id=tip.id)
    assert tip.status is TipStatus.RESOLVED and tip.first_response_at is not None
    changes = [event.data.get("to") for event in await TipEvent.filter(tip_id=tip.id)]
    assert [to for to in changes if to] == ["acknowledged", "resolved"]

    # The officer opens the photo: a message whose media is the signed link to the clean copy.
    await s.officer.press(f"tk:{tip.id}:files")

    def photo_link() -> str | None:
        for request in reversed(s.officer.delivered()):
            link = request.get("photo") or _zalo_image_url(request)
            if link:
                return str(link)
        return None

    link = await eventually(photo_link)
    response = await platforms.client.get(link.removeprefix(BASE_URL))
    assert response.status == 200 and await response.read() == kept


def _zalo_image_url(message: dict[str, Any]) -> str | None:
    payload = message.get("attachment", {}).get("payload", {})
    for element in payload.get("elements", []):
        if element.get("media_type") == "image" and element.get("url"):
            return str(element["url"])
    return None


@pytest.mark.parametrize("platform", ["telegram", "zalo-oa"])
async def test_an_anonymous_tipsters_identity_reaches_no_officer(
    platforms: Platforms, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = await tell_a_tip(platforms, platform)
    tip = s.tip
    await s.officer.reads(f"T-{tip.reference}")
    await s.officer.send("/tips")
    await s.officer.reads("Open tips in your area: 1")
    await s.officer.press(f"tko:{tip.id}")
    await s.officer.press(f"tk:{tip.id}:reply")
    await s.officer.send(REPLY)
    await s.resident.reads("Police reply")
    await s.chief.send("/tips overdue")
    await s.chief.send(f"/viewtip T-{tip.reference}")
    await s.chief.reads(WHAT[:30])  # the supervisor opened the card of the tip

    # What officers and supervisors read in their chats: every request the platform got.
    staff_chats = repr(s.officer.delivered()) + repr(s.chief.delivered())
    assert f"T-{tip.reference}" in staff_chats  # the check reads the real cards
    assert MARKER in repr(s.resident.delivered())  # ...and would see an id (here, the resident's)
    # What the staff-side services hand out: the export, the board, the tip itself.
    rows = await tipboard.export_tips(s.district, tz=ZoneInfo("Asia/Ho_Chi_Minh"), with_text=True)
    export = repr(rows)
    assert WHAT in export
    seen = await access_tip(s.supervisor, tip.id)
    staff_view = repr({k: v for k, v in seen.__dict__.items() if not k.startswith("_")})
    audit = repr(await AuditEvent.all().values())
    events = repr(await TipEvent.all().values())
    pages = ""
    for path in ("/", "/p/ca-xa-ea-kar", "/p/ca-xa-ea-kar/feed.atom", "/metrics"):
        pages += await (await platforms.client.get(path)).text()
    for place, text in {
        "a staff chat": staff_chats,
        "the export": export,
        "the tip as staff get it": staff_view,
        "the audit trail": audit,
        "the tip events": events,
        "a web page": pages,
        "the log": caplog.text,
    }.items():
        assert MARKER not in text, f"the tipster's marker in {place}"
