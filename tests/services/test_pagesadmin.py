"""Running pages as staff: slugs made from unit names (diacritics folded, collisions resolved),
input checked before anything is written, a Zalo OA carrying exactly one page, promotion
quotas only on Zalo OAs, the page list with its follower counts, and a post's publications —
their counts and stopping one. Every change is in the audit trail."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.services import pagesadmin
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.text import fold

KEYRING = Keyring("p" * 40)


@dataclass(frozen=True)
class Units:
    province: Unit
    ea_kar: Unit
    tan_thanh: Unit  # two communes share this name, in different provinces
    tan_thanh_other: Unit
    hamlet: Unit
    other_province: Unit


async def _unit(
    code: str | None, level: UnitLevel, kind: str, rest: str, parent: Unit | None = None
) -> Unit:
    return await Unit.create(
        code=code,
        level=level,
        kind=kind,
        name=f"{kind} {rest}",
        name_folded=fold(rest),
        parent=parent,
        path=f"{parent.path}{parent.id}/" if parent else "/",
    )


@pytest.fixture
async def units(db: TortoiseContext) -> Units:
    province = await _unit("66", UnitLevel.PROVINCE, "Tỉnh", "Đắk Lắk")
    other = await _unit("72", UnitLevel.PROVINCE, "Tỉnh", "Tây Ninh")
    ea_kar = await _unit("24373", UnitLevel.COMMUNE, "Xã", "Ea Kar", province)
    return Units(
        province=province,
        ea_kar=ea_kar,
        tan_thanh=await _unit("24400", UnitLevel.COMMUNE, "Xã", "Tân Thành", province),
        tan_thanh_other=await _unit("25534", UnitLevel.COMMUNE, "Xã", "Tân Thành", other),
        hamlet=await _unit(None, UnitLevel.HAMLET, "Buôn", "Ea Sinh", ea_kar),
        other_province=other,
    )


async def _account(kind: ChannelKind, name: str = "account") -> ChannelAccount:
    return await ChannelAccount.create(kind=kind, name=name)


async def _audit(action: str) -> list[AuditEvent]:
    return list(await AuditEvent.filter(action=action).order_by("id"))


# -- slugs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Xã Ea Kar", "xa-ea-kar"),
        ("Xã Cư M'gar", "xa-cu-mgar"),
        ("Xã Cư M’gar", "xa-cu-mgar"),
        ("Phường Buôn Ma Thuột", "phuong-buon-ma-thuot"),
        ("Xã Đắk Liêng", "xa-dak-lieng"),
        (unicodedata.normalize("NFD", "Thị trấn  Ea Drăng"), "thi-tran-ea-drang"),
        ("Phường 12 (Quận 3)", "phuong-12-quan-3"),
        ("Tỉnh Bà Rịa – Vũng Tàu", "tinh-ba-ria-vung-tau"),
        ("  Xã Ea H'leo  ", "xa-ea-hleo"),
    ],
)
def test_slug_from_a_unit_name(name: str, slug: str) -> None:
    assert pagesadmin.slug_base(name) == slug
    assert pagesadmin.check_slug(slug) == slug


def test_slug_from_a_very_long_name_leaves_room_for_a_suffix() -> None:
    slug = pagesadmin.slug_base("Xã " + "Ea Kar " * 40)
    assert len(slug) <= pagesadmin.SLUG_MAX - 12
    assert pagesadmin.check_slug(slug) == slug


@pytest.mark.parametrize("slug", ["abc", "ea-kar-2", "24373", "a" * 100, "a--b"])
def test_valid_slugs(slug: str) -> None:
    assert pagesadmin.check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    ["ab", "", "-abc", "abc-", "Ea-Kar", "ea kar", "xã-ea-kar", "ea_kar", "a" * 101, "ea/kar"],
)
def test_invalid_slugs(slug: str) -> None:
    with pytest.raises(ValidationError, match="3 to 100 characters of a-z, 0-9 and '-'"):
        pagesadmin.check_slug(slug)


async def test_a_page_from_a_unit_alone(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    stored = await Page.get(id=page.id)
    assert stored.slug == "xa-ea-kar"
    assert stored.title == "Công an xã Ea Kar"
    assert stored.default_locale == "vi"
    assert stored.approval_categories == []
    assert stored.description == ""
    assert stored.active is True
    (event,) = await _audit("page.created")
    assert event.actor_label == "cli" and event.source == "cli" and event.actor_staff_id is None
    assert (event.object_type, event.object_id, event.unit_id) == (
        "page",
        str(page.id),
        units.ea_kar.id,
    )
    assert event.data["slug"] == "xa-ea-kar"


async def test_a_province_page_title(units: Units) -> None:
    page = await pagesadmin.create_page(units.province)
    assert (page.slug, page.title) == ("tinh-dak-lak", "Công an tỉnh Đắk Lắk")


async def test_slug_collisions_take_the_unit_code_then_a_number(units: Units) -> None:
    first = await pagesadmin.create_page(units.tan_thanh)
    other = await pagesadmin.create_page(units.tan_thanh_other)
    again = await pagesadmin.create_page(units.tan_thanh_other)
    more = await pagesadmin.create_page(units.tan_thanh)
    assert [first.slug, other.slug, again.slug, more.slug] == [
        "xa-tan-thanh",
        "xa-tan-thanh-25534",
        "xa-tan-thanh-2",
        "xa-tan-thanh-24400",
    ]
    last = await pagesadmin.create_page(units.tan_thanh)
    assert last.slug == "xa-tan-thanh-3"


async def test_slug_collision_without_a_unit_code(units: Units) -> None:
    district = await _unit(None, UnitLevel.DISTRICT, "Huyện", "Ea Kar", units.province)
    await pagesadmin.create_page(units.ea_kar, slug="huyen-ea-kar")
    page = await pagesadmin.create_page(district)
    assert page.slug == "huyen-ea-kar-2"


async def test_a_given_slug_and_title(units: Units) -> None:
    page = await pagesadmin.create_page(
        units.ea_kar,
        slug="ea-kar",
        title="  Công an   xã Ea Kar ",
        description="Trang thông tin.\nĐường dây nóng: 113",
        default_locale="en",
        approval_categories=["missing-person", "crime_warning", "MISSING_PERSON"],
    )
    stored = await Page.get(id=page.id)
    assert (stored.slug, stored.title, stored.default_locale) == (
        "ea-kar",
        "Công an xã Ea Kar",
        "en",
    )
    assert stored.description == "Trang thông tin.\nĐường dây nóng: 113"
    # Once each, in the order PostCategory lists them.
    assert stored.approval_categories == ["crime_warning", "missing_person"]


async def test_a_taken_slug_is_a_conflict(units: Units) -> None:
    await pagesadmin.create_page(units.ea_kar, slug="ea-kar")
    with pytest.raises(Conflict, match="a page with slug 'ea-kar' already exists"):
        await pagesadmin.create_page(units.province, slug="ea-kar")
    assert await Page.all().count() == 1
    assert len(await _audit("page.created")) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"slug": "Ea Kar"}, "the slug 'Ea Kar' is not valid"),
        ({"title": "   "}, "a page needs a title"),
        ({"title": "x" * 201}, "a page title has at most 200 characters"),
        ({"description": "x" * 2001}, "a page description has at most 2000 characters"),
        ({"default_locale": "fr"}, "unsupported language 'fr'; one of vi, en"),
        ({"approval_categories": ["crime_warning", "gossip"]}, "unknown post category 'gossip'"),
    ],
)
async def test_bad_input_writes_nothing(
    units: Units, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await pagesadmin.create_page(units.ea_kar, **options)  # type: ignore[arg-type]
    assert await Page.all().count() == 0
    assert await AuditEvent.all().count() == 0


async def test_no_page_for_a_hamlet_or_an_inactive_unit(units: Units) -> None:
    with pytest.raises(ValidationError, match="Buôn Ea Sinh is a hamlet"):
        await pagesadmin.create_page(units.hamlet)
    units.tan_thanh.active = False
    await units.tan_thanh.save()
    with pytest.raises(ValidationError, match="no longer an active unit"):
        await pagesadmin.create_page(units.tan_thanh)
    assert await Page.all().count() == 0


async def test_get_page(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    assert (await pagesadmin.get_page("xa-ea-kar")).id == page.id
    with pytest.raises(NotFound, match="no page with slug 'nope'"):
        await pagesadmin.get_page("nope")


# -- changing a page ---------------------------------------------------------------------------


async def test_update_changes_only_what_is_given(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar, approval_categories=["health"])
    changed = await pagesadmin.update_page(
        page, title="Công an xã Ea Kar, Đắk Lắk", approval_categories=["fraud_warning"]
    )
    assert changed == ["title", "approval_categories"]
    stored = await Page.get(id=page.id)
    assert stored.title == "Công an xã Ea Kar, Đắk Lắk"
    assert stored.approval_categories == ["fraud_warning"]
    assert stored.active is True
    (event,) = await _audit("page.updated")
    assert event.data == {
        "title": "Công an xã Ea Kar, Đắk Lắk",
        "approval_categories": "fraud_warning",
    }

    assert await pagesadmin.update_page(page, approval_categories=[], active=False) == [
        "approval_categories",
        "active",
    ]
    stored = await Page.get(id=page.id)
    assert stored.approval_categories == [] and stored.active is False
    assert await pagesadmin.update_page(page, description="Mới.") == ["description"]
    assert (await _audit("page.updated"))[-1].data == {"description": "changed"}


async def test_update_that_changes_nothing_records_nothing(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    assert await pagesadmin.update_page(page) == []
    assert await pagesadmin.update_page(page, title="Công an xã Ea Kar", active=True) == []
    assert await _audit("page.updated") == []


async def test_update_checks_its_input(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    with pytest.raises(ValidationError, match="unknown post category"):
        await pagesadmin.update_page(page, title="Mới", approval_categories=["nope"])
    with pytest.raises(ValidationError, match="a page needs a title"):
        await pagesadmin.update_page(page, title=" ")
    assert (await Page.get(id=page.id)).title == "Công an xã Ea Kar"


# -- channels ----------------------------------------------------------------------------------


async def _carried(account: ChannelAccount) -> list[str]:
    slugs = await PageChannel.filter(channel_account_id=account.id).values_list(
        "page__slug", flat=True
    )
    return sorted(str(slug) for slug in slugs)


async def test_a_zalo_oa_is_exactly_one_page(units: Units) -> None:
    ea_kar = await pagesadmin.create_page(units.ea_kar)
    province = await pagesadmin.create_page(units.province)
    oa = await _account(ChannelKind.ZALO_OA, "OA Công an Ea Kar")
    assert await pagesadmin.attach_channel(ea_kar, oa) is True
    assert await pagesadmin.attach_channel(ea_kar, oa) is False  # idempotent
    with pytest.raises(Conflict) as caught:
        await pagesadmin.attach_channel(province, oa)
    assert caught.value.message == (
        f"zalo-oa account {oa.id} already carries page 'xa-ea-kar': a Zalo OA is exactly one "
        "page (detach that page first)"
    )
    assert await _carried(oa) == ["xa-ea-kar"]
    assert len(await _audit("page.channel_attached")) == 1

    assert await pagesadmin.detach_channel(ea_kar, oa) is True
    assert await pagesadmin.attach_channel(province, oa) is True
    assert await _carried(oa) == ["tinh-dak-lak"]
    (detached,) = await _audit("page.channel_detached")
    assert detached.data == {"account": oa.id, "kind": "zalo_oa"}


@pytest.mark.parametrize("kind", [ChannelKind.TELEGRAM, ChannelKind.ZALO_BOT, ChannelKind.WEBCHAT])
async def test_other_kinds_carry_any_number_of_pages(units: Units, kind: ChannelKind) -> None:
    account = await _account(kind)
    for unit in (units.ea_kar, units.province, units.tan_thanh):
        assert await pagesadmin.attach_channel(await pagesadmin.create_page(unit), account)
    assert await _carried(account) == ["tinh-dak-lak", "xa-ea-kar", "xa-tan-thanh"]


async def test_detaching_what_is_not_carried(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    account = await _account(ChannelKind.TELEGRAM)
    assert await pagesadmin.detach_channel(page, account) is False
    assert await _audit("page.channel_detached") == []


# -- promotion quotas --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [ChannelKind.TELEGRAM, ChannelKind.ZALO_BOT, ChannelKind.WEBCHAT])
async def test_only_a_zalo_oa_has_a_promotion_quota(db: TortoiseContext, kind: ChannelKind) -> None:
    account = await _account(kind)
    with pytest.raises(ValidationError, match="only a zalo-oa account has one"):
        await pagesadmin.set_promotion_quota(account, 100)
    assert (await ChannelAccount.get(id=account.id)).monthly_promotion_quota is None


async def test_a_zalo_oa_promotion_quota(db: TortoiseContext) -> None:
    oa = await _account(ChannelKind.ZALO_OA)
    assert await pagesadmin.set_promotion_quota(oa, 2000) is True
    assert (await ChannelAccount.get(id=oa.id)).monthly_promotion_quota == 2000
    assert await pagesadmin.set_promotion_quota(oa, 2000) is False
    for quota in (0, 1_000_000, None):
        await pagesadmin.set_promotion_quota(oa, quota)
        assert (await ChannelAccount.get(id=oa.id)).monthly_promotion_quota == quota
    events = await _audit("channel.quota_set")
    assert [event.data for event in events] == [
        {"before": None, "quota": 2000},
        {"before": 2000, "quota": 0},
        {"before": 0, "quota": 1_000_000},
        {"before": 1_000_000, "quota": None},
    ]


@pytest.mark.parametrize("quota", [-1, 1_000_001, True])
async def test_a_promotion_quota_out_of_range(db: TortoiseContext, quota: int) -> None:
    oa = await _account(ChannelKind.ZALO_OA)
    with pytest.raises(ValidationError, match="from 0 to 1,000,000, or none"):
        await pagesadmin.set_promotion_quota(oa, quota)
    assert (await ChannelAccount.get(id=oa.id)).monthly_promotion_quota is None


# -- listing -----------------------------------------------------------------------------------


async def _follow(page: Page, account: ChannelAccount, who: str, status: FollowStatus) -> None:
    contact, _ = await find_or_create_contact(KEYRING, account, ContactIdentity(who))
    await Follow.create(page=page, contact=contact, status=status)


async def test_list_pages_with_followers_and_channels(units: Units) -> None:
    ea_kar = await pagesadmin.create_page(units.ea_kar)
    province = await pagesadmin.create_page(units.province)
    other = await pagesadmin.create_page(units.tan_thanh_other)
    await pagesadmin.update_page(other, active=False)
    webchat = await _account(ChannelKind.WEBCHAT)
    oa = await _account(ChannelKind.ZALO_OA)
    telegram = await _account(ChannelKind.TELEGRAM)
    for account in (webchat, oa, telegram):
        await pagesadmin.attach_channel(ea_kar, account)
    await pagesadmin.attach_channel(province, telegram)
    for n in range(3):
        await _follow(ea_kar, webchat, f"active-{n}", FollowStatus.ACTIVE)
    await _follow(ea_kar, webchat, "stopped", FollowStatus.STOPPED)
    await _follow(ea_kar, webchat, "waiting", FollowStatus.PENDING_CONSENT)
    await _follow(province, webchat, "active-0", FollowStatus.ACTIVE)

    rows = {row.slug: row for row in await pagesadmin.list_pages()}
    assert list(rows) == ["tinh-dak-lak", "xa-ea-kar", "xa-tan-thanh"]
    row = rows["xa-ea-kar"]
    assert (row.title, row.unit_name, row.unit_code, row.followers, row.active) == (
        "Công an xã Ea Kar",
        "Xã Ea Kar",
        "24373",
        3,
        True,
    )
    assert row.channel_kinds == (ChannelKind.TELEGRAM, ChannelKind.ZALO_OA, ChannelKind.WEBCHAT)
    assert (rows["tinh-dak-lak"].followers, rows["tinh-dak-lak"].channel_kinds) == (
        1,
        (ChannelKind.TELEGRAM,),
    )
    assert (rows["xa-tan-thanh"].followers, rows["xa-tan-thanh"].channel_kinds) == (0, ())
    assert rows["xa-tan-thanh"].active is False

    within = await pagesadmin.list_pages(units.province)
    assert [row.slug for row in within] == ["tinh-dak-lak", "xa-ea-kar"]
    assert [row.slug for row in await pagesadmin.list_pages(units.ea_kar)] == ["xa-ea-kar"]
    assert [row.slug for row in await pagesadmin.list_pages(units.other_province)] == [
        "xa-tan-thanh"
    ]
    assert await pagesadmin.list_pages(units.tan_thanh) == []


async def test_page_details(units: Units) -> None:
    page = await pagesadmin.create_page(units.ea_kar)
    webchat = await _account(ChannelKind.WEBCHAT, "Web chat")
    oa = await _account(ChannelKind.ZALO_OA, "OA")
    await pagesadmin.attach_channel(page, oa)
    await pagesadmin.attach_channel(page, webchat)
    await _follow(page, webchat, "a", FollowStatus.ACTIVE)
    details = await pagesadmin.page_details("xa-ea-kar")
    assert details.page.unit.name == "Xã Ea Kar"
    assert details.followers == 1
    assert [account.id for account in details.accounts] == [webchat.id, oa.id]


# -- posts and publications --------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    page: Page
    post: Post  # published, two publications
    recurring: Post  # scheduled, never published
    first: Publication  # done
    second: Publication  # sending


async def _deliveries(
    publication: Publication, account: ChannelAccount, statuses: dict[DeliveryStatus, int]
) -> None:
    for status, count in statuses.items():
        for n in range(count):
            contact, _ = await find_or_create_contact(
                KEYRING, account, ContactIdentity(f"{status.value}-{n}")
            )
            await Delivery.create(
                channel_account=account,
                contact=contact,
                kind=DeliveryKind.BROADCAST,
                dedup_key=f"pub:{publication.id}:{status.value}:{n}",
                payload={},
                publication=publication,
                status=status,
                not_before=utcnow(),
                read_at=utcnow() if status is DeliveryStatus.SENT and n == 0 else None,
            )


@pytest.fixture
async def published(units: Units) -> Published:
    page = await pagesadmin.create_page(units.ea_kar)
    account = await _account(ChannelKind.WEBCHAT)
    now = utcnow()
    post = await Post.create(
        page=page,
        category=PostCategory.FRAUD_WARNING,
        status=PostStatus.PUBLISHED,
        published_at=now,
    )
    await PostTranslation.create(post=post, locale="en", title="Fraud", body="…")
    await PostTranslation.create(post=post, locale="vi", title="Cảnh báo lừa đảo", body="…")
    recurring = await Post.create(
        page=page,
        category=PostCategory.ANNOUNCEMENT,
        status=PostStatus.SCHEDULED,
        schedule_kind=ScheduleKind.CRON,
        cron_expression="0 7 * * 1",
        next_run_at=now + timedelta(days=2),
    )
    first = await Publication.create(
        post=post,
        occurrence_at=now - timedelta(days=1),
        status=PublicationStatus.DONE,
        recipients=2,
    )
    await _deliveries(first, account, {DeliveryStatus.SENT: 2})
    second = await Publication.create(
        post=post, occurrence_at=now, status=PublicationStatus.SENDING, recipients=9
    )
    await _deliveries(
        second,
        account,
        {
            DeliveryStatus.PENDING: 2,
            DeliveryStatus.SENDING: 1,
            DeliveryStatus.SENT: 2,
            DeliveryStatus.DEAD: 1,
            DeliveryStatus.UNREACHABLE: 1,
            DeliveryStatus.QUOTA_BLOCKED: 1,
            DeliveryStatus.CANCELLED: 1,
        },
    )
    return Published(page, post, recurring, first, second)


async def test_page_posts_newest_first_with_the_latest_publication(published: Published) -> None:
    rows = await pagesadmin.page_posts(published.page)
    assert [row.id for row in rows] == [published.recurring.id, published.post.id]
    recurring, post = rows
    assert (recurring.schedule, recurring.cron, recurring.status) == (
        ScheduleKind.CRON,
        "0 7 * * 1",
        PostStatus.SCHEDULED,
    )
    assert recurring.next_run_at is not None and recurring.latest is None
    assert post.title == "Cảnh báo lừa đảo"  # the page's language
    assert post.latest is not None
    assert post.latest.publication_id == published.second.id
    assert post.latest.recipients == 9
    assert post.latest.queued == 3
    assert post.latest.by_status["sent"] == 2 and post.latest.by_status["dead"] == 1
    assert [row.id for row in await pagesadmin.page_posts(published.page, limit=1)] == [
        published.recurring.id
    ]


async def test_post_stats_per_publication(published: Published) -> None:
    post, stats = await pagesadmin.post_stats(published.post.id)
    assert post.page.slug == "xa-ea-kar"
    assert [item.publication_id for item in stats] == [published.second.id, published.first.id]
    second, first = stats
    assert (second.queued, second.read, second.recipients) == (3, 1, 9)
    assert {
        status: second.by_status[status] for status in ("unreachable", "quota_blocked", "cancelled")
    } == {
        "unreachable": 1,
        "quota_blocked": 1,
        "cancelled": 1,
    }
    assert (first.queued, first.by_status["sent"], first.read) == (0, 2, 1)
    _, none = await pagesadmin.post_stats(published.recurring.id)
    assert none == []
    with pytest.raises(NotFound, match="no post 424242"):
        await pagesadmin.post_stats(424242)


async def test_stopping_a_publication(published: Published) -> None:
    second = published.second
    assert await pagesadmin.stop_publication(second.id) == 3
    stored = await Publication.get(id=second.id)
    assert stored.status is PublicationStatus.STOPPED and stored.finished_at is not None
    counts = await pagesadmin.post_stats(published.post.id)
    assert counts[1][0].queued == 0 and counts[1][0].by_status["cancelled"] == 4
    assert counts[1][0].by_status["sent"] == 2  # what was sent stays sent
    (event,) = await _audit("publication.stopped")
    assert (event.actor_label, event.source, event.object_id) == ("cli", "cli", str(second.id))
    assert event.unit_id == published.page.unit_id  # type: ignore[attr-defined]
    assert event.data == {"post": published.post.id, "stopped": 3}

    with pytest.raises(Conflict, match=f"publication {second.id} is already stopped"):
        await pagesadmin.stop_publication(second.id)
    with pytest.raises(Conflict, match="is done: nothing is left to send"):
        await pagesadmin.stop_publication(published.first.id)
    assert (await Publication.get(id=published.first.id)).status is PublicationStatus.DONE
    with pytest.raises(NotFound, match="no publication 424242"):
        await pagesadmin.stop_publication(424242)
    assert len(await _audit("publication.stopped")) == 1
