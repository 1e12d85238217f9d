"""Rumour clustering: residents forwarding the same rumour — with different spacing, case,
diacritics and link forms, or one word changed in a long message — are one cluster of their
province, and one verdict answers each of them once; a forward after the verdict is answered
at once; a verdict becomes a rumour-check post on the commune's page."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Contact,
    Page,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Role,
    RumourCluster,
    RumourVerdict,
    Staff,
    Tip,
    TipEvent,
    TipStatus,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, ValidationError
from communepol.i18n import I18n
from communepol.services import duty, rumours
from communepol.services.tips import Submitted, TipInput, Tips
from communepol.settings import Settings
from tests import pagekit
from tests.services.test_tips import Clock, cards, clock, linked, replies

__all__ = ["clock"]  # the fixture, imported for the tests below

DESK = Tips(pagekit.KEYRING)
I18N = I18n.load()

FORWARDS = (
    "Công an xã sẽ PHÁT TIỀN hỗ trợ 5 triệu, bấm link http://bit.ly/abc để nhận!!",
    "cong an xa se phat tien ho tro 5 trieu, bam link bit.ly/abc de nhan",
    "Công  an  xã sẽ phát tiền   hỗ trợ 5 triệu bấm link https://bit.ly/abc để nhận",
)
LONG = (
    "Thông báo khẩn từ Bộ Công an: từ ngày mai mọi người dân phải cập nhật căn cước trên "
    "ứng dụng mới tại đường link bên dưới, nếu không tài khoản ngân hàng sẽ bị khóa vĩnh viễn "
    "và không thể rút tiền, hãy chia sẻ cho người thân cùng biết"
)
EXPLANATION = "Công an không phát tiền qua đường link. Đây là tin giả để lừa lấy tài khoản."


@dataclass
class Village:
    """Ea Kar (Đắk Lắk) with its page, its officer on duty and residents on the province's bot;
    Tây Ninh's commune Tân Lập with a resident of its own."""

    province: Unit
    ea_kar: Unit
    tan_lap: Unit
    bot: ChannelAccount
    officer: Staff
    officer_chat: Contact
    page: Page

    async def resident(self, user: str) -> Contact:
        return await pagekit.contact(self.bot, user, "en")

    async def forward(self, user: str, text: str, unit: Unit | None = None) -> Submitted:
        unit = unit or self.ea_kar
        return await DESK.submit(await self.resident(user), TipInput("rumour_check", text, unit.id))


@pytest.fixture
async def village(db: TortoiseContext, clock: Clock) -> Village:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    ea_kar = await pagekit.unit("Xã Ea Kar", parent=province, code="24340")
    tay_ninh = await pagekit.unit("Tỉnh Tây Ninh", UnitLevel.PROVINCE, code="72")
    tan_lap = await pagekit.unit("Xã Tân Lập", parent=tay_ninh, code="25000")
    bot = await pagekit.account(ChannelKind.TELEGRAM, "Bot Công an")
    officer = await Staff.create(
        full_name="Nguyễn Văn An", role=Role.OFFICER, unit=ea_kar, locale="en"
    )
    chat = await linked(officer, bot, "officer")
    await duty.duty_on(officer)
    page = await pagekit.page(ea_kar, "ca-xa-ea-kar", bot)
    return Village(province, ea_kar, tan_lap, bot, officer, chat, page)


async def cluster_of(sent: Submitted) -> int:
    return int((await Tip.get(id=sent.tip.id)).rumour_cluster_id)  # type: ignore[attr-defined]


async def test_three_forwards_of_one_rumour_get_one_verdict_each(village: Village) -> None:
    sent = [await village.forward(f"res-{n}", text) for n, text in enumerate(FORWARDS)]

    assert len({await cluster_of(item) for item in sent}) == 1
    assert await RumourCluster.all().count() == 1
    assert not any(item.verdict_known for item in sent)
    assert len(await cards(village.officer_chat)) == 3  # each forward is a card to check

    cluster, answered = await rumours.give_verdict(
        pagekit.KEYRING, village.officer, sent[1].reference, "false", EXPLANATION
    )

    assert answered == 3 and cluster.verdict is RumourVerdict.FALSE
    for n, item in enumerate(sent):
        resident = await village.resident(f"res-{n}")
        [news] = await replies(resident)
        assert news.tip_id == item.tip.id  # type: ignore[attr-defined]
        assert news.payload["text"] == (
            f"About the message you asked us to check ({item.reference}): False.\n{EXPLANATION}"
        )
        tip = await Tip.get(id=item.tip.id)
        assert tip.status is TipStatus.RESOLVED and tip.first_response_at is not None
        [event] = await TipEvent.filter(tip_id=tip.id, kind="status")
        assert event.data["action"] == "verdict" and event.actor_id == village.officer.id  # type: ignore[attr-defined]
    [record] = await AuditEvent.filter(action="rumour.verdict")
    assert record.data == {"verdict": "false", "answered": 3}


async def test_a_forward_after_the_verdict_is_answered_at_once(village: Village) -> None:
    first = await village.forward("res-0", FORWARDS[0])
    await rumours.give_verdict(
        pagekit.KEYRING, village.officer, first.reference, "false", EXPLANATION
    )
    before = len(await cards(village.officer_chat))

    late = await village.forward("res-late", FORWARDS[2].upper())

    assert late.verdict_known and late.notified == 0
    assert len(await cards(village.officer_chat)) == before
    [news] = await replies(await village.resident("res-late"))
    assert news.payload["text"].endswith(f": False.\n{EXPLANATION}")
    assert (await Tip.get(id=late.tip.id)).status is TipStatus.RESOLVED
    assert await cluster_of(late) == await cluster_of(first)


async def test_a_different_rumour_is_its_own_cluster(village: Village) -> None:
    money = await village.forward("res-0", FORWARDS[0])
    other = await village.forward("res-1", "Sắp cúp điện toàn xã ba ngày để sửa đường dây")
    assert await cluster_of(money) != await cluster_of(other)

    await rumours.give_verdict(
        pagekit.KEYRING, village.officer, money.reference, "false", EXPLANATION
    )
    # The other rumour waits for its own verdict.
    assert (await Tip.get(id=other.tip.id)).status is TipStatus.NEW
    assert await replies(await village.resident("res-1")) == []


async def test_a_near_identical_forward_joins_the_cluster(village: Village) -> None:
    first = await village.forward("res-0", LONG)
    edited = await village.forward("res-1", LONG.replace("vĩnh viễn", "ngay lập tức", 1))
    assert rumours.fingerprint(LONG) != rumours.fingerprint(edited.tip.text)
    assert await cluster_of(first) == await cluster_of(edited)


async def test_clusters_are_per_province(village: Village) -> None:
    here = await village.forward("res-0", FORWARDS[0])
    there = await village.forward("res-tn", FORWARDS[0], village.tan_lap)
    assert await cluster_of(here) != await cluster_of(there)
    clusters = await RumourCluster.all().order_by("id")
    assert [c.scope_unit_id for c in clusters] == [  # type: ignore[attr-defined]
        village.province.id,
        village.tan_lap.parent_id,  # type: ignore[attr-defined]
    ]

    await rumours.give_verdict(
        pagekit.KEYRING, village.officer, here.reference, "false", EXPLANATION
    )
    assert (await Tip.get(id=there.tip.id)).status is TipStatus.NEW


async def test_a_rumour_gets_one_verdict(village: Village) -> None:
    first = await village.forward("res-0", FORWARDS[0])
    second = await village.forward("res-1", FORWARDS[1])
    await rumours.give_verdict(
        pagekit.KEYRING, village.officer, first.reference, "false", EXPLANATION
    )
    with pytest.raises(Conflict):
        await rumours.give_verdict(
            pagekit.KEYRING, village.officer, second.reference, "true", "Có thật"
        )
    assert (await RumourCluster.get(id=await cluster_of(first))).verdict is RumourVerdict.FALSE


async def test_only_a_rumour_check_with_a_known_verdict_and_explanation_is_accepted(
    village: Village,
) -> None:
    theft = await DESK.submit(
        await village.resident("res-0"), TipInput("theft", "Mất trộm gà", village.ea_kar.id)
    )
    rumour = await village.forward("res-1", FORWARDS[0])
    for ref, verdict, explanation in (
        (theft.reference, "false", EXPLANATION),
        (rumour.reference, "fake", EXPLANATION),
        (rumour.reference, "false", "   "),
    ):
        with pytest.raises(ValidationError):
            await rumours.give_verdict(pagekit.KEYRING, village.officer, ref, verdict, explanation)
    assert (await Tip.get(id=rumour.tip.id)).status is TipStatus.NEW


async def test_a_verdict_becomes_a_rumour_check_post_on_the_communes_page(
    village: Village, settings: Settings
) -> None:
    sent = await village.forward("res-0", FORWARDS[0])
    cluster, _ = await rumours.give_verdict(
        pagekit.KEYRING, village.officer, sent.reference, "false", EXPLANATION
    )

    post_id = await rumours.publish_verdict(village.officer, sent.reference, I18N, settings)

    post = await Post.get(id=post_id)
    assert post.page_id == village.page.id and post.category is PostCategory.RUMOUR_CHECK  # type: ignore[attr-defined]
    assert post.author_id == village.officer.id  # type: ignore[attr-defined]
    # Rumour checks need no approval on this page: it goes out at the next tick.
    assert post.status is PostStatus.SCHEDULED
    [translation] = await PostTranslation.filter(post_id=post.id)
    assert translation.locale == "vi"
    assert FORWARDS[0] in translation.body and EXPLANATION in translation.body
    assert (await RumourCluster.get(id=cluster.id)).post_id == post.id
    with pytest.raises(Conflict):  # pressed twice: still one post
        await rumours.publish_verdict(village.officer, sent.reference, I18N, settings)
    assert await Post.filter(category=PostCategory.RUMOUR_CHECK).count() == 1


async def test_a_supervisor_without_a_page_publishes_on_the_tips_commune_page(
    village: Village, settings: Settings
) -> None:
    # The province has no page of its own; the province page of another province is not
    # theirs to post on, and neither is anything above them.
    elsewhere = await pagekit.unit("Tỉnh Tây Ninh 2", UnitLevel.PROVINCE, code="73")
    await pagekit.page(elsewhere, "ca-tinh-khac", village.bot)
    supervisor = await Staff.create(
        full_name="Trần Thị Bình", role=Role.SUPERVISOR, unit=village.province, locale="en"
    )
    sent = await village.forward("res-0", FORWARDS[0])
    await rumours.give_verdict(pagekit.KEYRING, supervisor, sent.reference, "false", EXPLANATION)

    post_id = await rumours.publish_verdict(supervisor, sent.reference, I18N, settings)

    assert (await Post.get(id=post_id)).page_id == village.page.id  # type: ignore[attr-defined]
    # With a page of its own, the province's is used.
    province_page = await pagekit.page(village.province, "ca-tinh-dak-lak", village.bot)
    other = await village.forward("res-1", LONG)
    await rumours.give_verdict(pagekit.KEYRING, supervisor, other.reference, "false", EXPLANATION)
    post_id = await rumours.publish_verdict(supervisor, other.reference, I18N, settings)
    assert (await Post.get(id=post_id)).page_id == province_page.id  # type: ignore[attr-defined]
