"""The post lifecycle as staff meet it: drafts, approval when the page requires it, editing
until published, cancelling, scope, attachments without photo metadata, stopping mid-way."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from tortoise.context import TortoiseContext

from communepol.app import create_app
from communepol.db.models import (
    Contact,
    ContactKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    PostStatus,
    PublicationStatus,
    Role,
    ScheduleKind,
    Staff,
    StaffIdentity,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import I18n
from communepol.services import outbox, posts
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.settings import Settings
from tests import pagekit

I18N = I18n.load()
LATER = datetime.now(UTC) + timedelta(days=2)


def _input(category: str = "announcement", **kw: Any) -> PostInput:
    return PostInput(category, [Translation("vi", "Thông báo", "Nội dung thông báo.")], **kw)


async def _scene(approval: list[str] | None = None) -> tuple[pagekit.Page, dict[str, Any]]:
    district = await pagekit.unit("Huyện Ea Kar", pagekit.UnitLevel.DISTRICT)
    commune = await pagekit.unit("Xã Ea Kar", parent=district)
    other = await pagekit.unit("Xã Ea Păl", parent=district)
    account = await pagekit.account()
    page = await pagekit.page(commune, "ea-kar", account, approval=approval)
    await pagekit.followers(page, account, 3)
    return page, {
        "officer": await pagekit.staff(commune),
        "stranger": await pagekit.staff(other, name="Người xã khác"),
        "supervisor": await pagekit.staff(district, Role.SUPERVISOR, name="Lê Văn Cường"),
    }


async def test_a_category_needing_approval_waits_for_a_supervisor(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene(approval=["legal"])
    officer, supervisor = staff["officer"], staff["supervisor"]
    post = await posts.create_post(officer, page.id, _input("legal"), settings)
    assert post.status is PostStatus.DRAFT
    post = await posts.submit_post(officer, post.id, settings)
    assert post.status is PostStatus.PENDING_APPROVAL
    assert await Publisher(settings, I18N).publish_due() == []  # nothing goes out meanwhile

    with pytest.raises(PermissionDenied):
        await posts.approve_post(officer, post.id, settings)  # an officer cannot approve
    with pytest.raises(ValidationError):
        await posts.reject_post(supervisor, post.id, "  ")  # a reason is required
    post = await posts.reject_post(supervisor, post.id, "Thiếu số văn bản")
    assert post.status is PostStatus.DRAFT
    post = await posts.submit_post(officer, post.id, settings)
    post = await posts.approve_post(supervisor, post.id, settings)
    assert post.status is PostStatus.SCHEDULED and post.approved_by_id == supervisor.id  # type: ignore[attr-defined]
    assert len(await Publisher(settings, I18N).publish_due()) == 1

    # A category without the rule, or a supervisor's own post, needs nobody else.
    quick = await posts.create_post(officer, page.id, _input("health"), settings)
    assert (await posts.submit_post(officer, quick.id, settings)).status is PostStatus.SCHEDULED


async def test_editing_until_published_with_a_version_check(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene()
    officer = staff["officer"]
    data = _input(schedule=ScheduleKind.ONCE, at=LATER)
    post = await posts.create_post(officer, page.id, data, settings)
    post = await posts.submit_post(officer, post.id, settings)
    edited = await posts.update_post(
        officer,
        post.id,
        PostInput(
            "announcement",
            [Translation("vi", "Thông báo mới", "Nội dung mới."), Translation("en", "New", "New.")],
            ScheduleKind.ONCE,
            at=LATER + timedelta(hours=1),
        ),
        settings,
        version=post.version,
    )
    assert edited.next_run_at == LATER + timedelta(hours=1)
    assert {t.locale for t in edited.translations} == {"vi", "en"}
    with pytest.raises(Conflict):  # someone edited it since this version was read
        await posts.update_post(officer, post.id, data, settings, version=post.version)
    with pytest.raises(ValidationError):
        await posts.update_post(
            officer,
            post.id,
            _input(schedule=ScheduleKind.CRON, cron="every day"),
            settings,
            version=edited.version,
        )
    cancelled = await posts.cancel_post(officer, post.id)
    assert cancelled.status is PostStatus.CANCELLED and cancelled.next_run_at is None
    with pytest.raises(Conflict):
        await posts.update_post(officer, post.id, data, settings, version=cancelled.version)


async def test_staff_of_another_commune_cannot_see_or_write_the_page(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene()
    with pytest.raises(NotFound):
        await posts.create_post(staff["stranger"], page.id, _input(), settings)
    post = await posts.create_post(staff["officer"], page.id, _input(), settings)
    for action in (
        posts.get_post(staff["stranger"], post.id),
        posts.cancel_post(staff["stranger"], post.id),
        posts.publication_stats(staff["stranger"], post.id),
    ):
        with pytest.raises(NotFound):
            await action


async def test_bad_input_is_refused_with_the_field_named(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene()
    cases = {
        "category": PostInput("gossip", [Translation("vi", "a", "b")]),
        "translations": PostInput("health", []),
        "title": PostInput("health", [Translation("vi", "  ", "b")]),
        "locale": PostInput("health", [Translation("fr", "a", "b")]),
        "at": _input(schedule=ScheduleKind.ONCE, at=datetime.now(UTC) - timedelta(hours=1)),
        "cron_expression": _input(schedule=ScheduleKind.CRON, cron="61 * * * *"),
        "expires_at": _input(expires_at=datetime.now(UTC) - timedelta(minutes=5)),
    }
    for field, data in cases.items():
        with pytest.raises(ValidationError) as caught:
            await posts.create_post(staff["officer"], page.id, data, settings)
        assert caught.value.field == field


def _png_with_gps_text() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"tEXt", b"GPS\x0012.68N 108.05E")
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


async def test_a_photo_goes_out_without_its_metadata_and_is_served_once_published(
    db: TortoiseContext, settings: Settings, aiohttp_client: Any
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, run_workers=False))
    page, staff = await _scene()
    officer = staff["officer"]
    post = await posts.create_post(officer, page.id, _input("missing_person"), settings)
    photo = await posts.add_attachment(officer, post.id, _png_with_gps_text(), "ảnh.jpg", settings)
    assert photo.content_type == "image/png" and photo.filename.endswith(".png")
    with pytest.raises(ValidationError):
        await posts.add_attachment(officer, post.id, b"<html>hi</html>", "x.png", settings)
    url = f"/media/{photo.id}/{photo.filename}"
    assert (await client.get(url)).status == 404  # not before it is published

    await posts.submit_post(officer, post.id, settings)
    [publication] = await Publisher(settings, I18N).publish_due()
    response = await client.get(url)
    assert response.status == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    served = await response.read()
    assert b"GPS" not in served and served.startswith(b"\x89PNG")
    rows = await Delivery.filter(publication_id=publication).limit(1)
    [claimed] = await outbox.claim(
        rows[0].channel_account_id,  # type: ignore[attr-defined]
        owner="t",
        limit=1,
        lease=timedelta(seconds=30),
    )
    assert claimed.payload["media"]["ref"].endswith(url)


async def test_stopping_a_broadcast_cancels_what_is_not_sent(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene()
    officer = staff["officer"]
    post = await posts.create_post(officer, page.id, _input(), settings)
    await posts.submit_post(officer, post.id, settings)
    [publication] = await Publisher(settings, I18N).publish_due()
    assert await posts.stop_publication(officer, publication) == 3
    [stats] = await posts.publication_stats(officer, post.id)
    assert stats.status is PublicationStatus.STOPPED
    assert stats.by_status["cancelled"] == 3 and stats.queued == 0
    assert not await Delivery.filter(status=DeliveryStatus.PENDING).exists()


async def test_approvers_and_the_author_are_told_in_their_bot(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene(approval=["legal"])
    officer, supervisor = staff["officer"], staff["supervisor"]
    account = await pagekit.ChannelAccount.get(pages__page_id=page.id)
    chats = {}
    for who, member in (("officer", officer), ("supervisor", supervisor)):
        chat = await pagekit.contact(account, f"bot-{who}")
        await StaffIdentity.create(
            staff=member,
            channel_account=account,
            identity_hash=chat.identity_hash,
            identity_sealed=chat.identity_sealed,
        )
        chats[who] = chat.id
    await Staff.filter(id=supervisor.id).update(locale="en")

    async def notices_to(who: str) -> list[str]:
        rows = await Delivery.filter(kind=DeliveryKind.NOTIFICATION, contact_id=chats[who])
        return [row.payload["text"] for row in rows]

    post = await posts.create_post(officer, page.id, _input("legal"), settings)
    await posts.submit_post(officer, post.id, settings)
    assert await notices_to("supervisor") == [
        f"Post #{post.id} on {page.title} waits for your approval: type /approve."
    ]
    assert await notices_to("officer") == []  # the author is not asked to approve
    await posts.reject_post(supervisor, post.id, "Thiếu số văn bản")
    [rejected] = await notices_to("officer")  # the officer reads Vietnamese
    assert rejected == f"Tin #{post.id} đã bị trả lại: Thiếu số văn bản"
    await posts.submit_post(officer, post.id, settings)
    await posts.approve_post(supervisor, post.id, settings)
    assert (await notices_to("officer"))[-1] == f"Tin #{post.id} của bạn đã được duyệt."
    assert len(await notices_to("supervisor")) == 2  # asked again after the resubmission


async def test_a_shared_household_account_receives_a_post_once(
    db: TortoiseContext, settings: Settings
) -> None:
    page, staff = await _scene()
    account = await pagekit.ChannelAccount.get(pages__page_id=page.id)
    shared = await pagekit.contact(account, "shared-ea-sinh")
    await Contact.filter(id=shared.id).update(kind=ContactKind.SHARED_HOUSEHOLD)
    group = await HouseholdGroup.create(unit=page.unit, name="Nhóm 5 hộ", representative=shared)
    for number in range(5):
        household = await Household.create(hamlet=page.unit, head_name=f"Hộ {number}")
        await HouseholdGroupMember.create(group=group, household=household)
    await Follow.create(page=page, contact=shared, status=FollowStatus.ACTIVE)
    post = await posts.create_post(staff["officer"], page.id, _input(), settings)
    await posts.submit_post(staff["officer"], post.id, settings)
    [publication] = await Publisher(settings, I18N).publish_due()
    assert await Delivery.filter(publication_id=publication, contact_id=shared.id).count() == 1
    assert await Delivery.filter(publication_id=publication).count() == 4  # 3 followers + it
