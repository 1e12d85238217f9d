"""A post from scheduling to the platforms, with the service running (ticker, dispatcher,
inbox worker) against the fake servers: each follower gets it once in their language on their
platform, a Zalo OA "seen" receipt counts as read, and what a Zalo OA's monthly promotion quota
forbids is reported on the post instead of silently dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from communepol.db.models import (
    ChannelAccount,
    Delivery,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    Role,
)
from communepol.services import posts
from communepol.services.fanout import QUOTA_REASON
from communepol.services.posts import PostInput, Translation
from communepol.settings import Settings
from tests import pagekit
from tests.e2e.conftest import Platforms, eventually

ZALO_USERS = ["6142494823000000001", "6142494823000000002", "6142494823000000003"]


async def _page(p: Platforms) -> Page:
    commune = await pagekit.unit("Xã Ea Kar")
    accounts = [await ChannelAccount.get(id=p.accounts[k]) for k in ("telegram", "zalo-oa")]
    return await pagekit.page(commune, "ca-xa-ea-kar", *accounts)


async def _follow(page: Page, account_id: int, user: str, locale: str) -> None:
    account = await ChannelAccount.get(id=account_id)
    person = await pagekit.contact(account, user, locale)
    await Follow.create(page=page, contact=person, status=FollowStatus.ACTIVE)


async def _publish(page: Page, settings: Settings) -> int:
    officer = await pagekit.staff(await page.unit, Role.OFFICER)
    post = await posts.create_post(
        officer,
        page.id,
        PostInput(
            "fraud_warning",
            [
                Translation("vi", "Cảnh báo lừa đảo", "Không chuyển tiền cho người lạ."),
                Translation("en", "Fraud warning", "Never send money to strangers."),
            ],
        ),
        settings,
    )
    await posts.submit_post(officer, post.id, settings)
    return post.id


async def test_a_post_reaches_every_follower_once_in_their_language_and_reads_are_counted(
    platforms: Platforms, settings: Settings
) -> None:
    p = platforms
    page = await _page(p)
    await _follow(page, p.accounts["telegram"], "4242", "en")
    await _follow(page, p.accounts["telegram"], "4343", "vi")
    await _follow(page, p.accounts["zalo-oa"], ZALO_USERS[0], "vi")
    post_id = await _publish(page, settings)

    async def all_sent() -> bool:
        rows = await Delivery.filter(publication__post_id=post_id)
        return len(rows) == 3 and all(r.status is DeliveryStatus.SENT for r in rows)

    await eventually(all_sent, within=15)  # the running ticker publishes "now" within seconds
    assert [m for m in p.telegram.sent_texts(4242) if "Fraud warning" in m]
    assert [m for m in p.telegram.sent_texts(4343) if "Cảnh báo lừa đảo" in m]
    [zalo] = p.zalo_oa.sent_to(ZALO_USERS[0])
    assert zalo.endpoint == "promotion" and "Cảnh báo lừa đảo" in zalo.text

    # The resident opens it on Zalo: the OA's "seen" receipt comes back by webhook.
    body, headers = p.zalo_oa.signed(p.zalo_oa.seen_event(ZALO_USERS[0], [zalo.message_id]))
    response = await p.client.post(
        f"/webhooks/zalo-oa/{p.accounts['zalo-oa']}", data=body, headers=headers
    )
    assert response.status == 200

    async def read() -> bool:
        return await Delivery.filter(read_at__not_isnull=True).count() == 1

    await eventually(read)
    supervisor = await pagekit.staff(await page.unit, Role.SUPERVISOR, name="Lê Văn Cường")
    [stats] = await posts.publication_stats(supervisor, post_id)
    assert (stats.recipients, stats.by_status["sent"], stats.read) == (3, 3, 1)


async def test_a_zalo_oa_quota_blocks_what_it_must_and_the_post_says_so(
    platforms: Platforms, settings: Settings
) -> None:
    p = platforms
    page = await _page(p)
    oa = p.accounts["zalo-oa"]
    # Two promotion messages a month, one already sent this month to someone else.
    await ChannelAccount.filter(id=oa).update(monthly_promotion_quota=2)
    earlier = await pagekit.contact(await ChannelAccount.get(id=oa), "someone-earlier")
    await Delivery.create(
        channel_account_id=oa,
        contact=earlier,
        kind="broadcast",
        priority=3,
        dedup_key="earlier-broadcast",
        payload={"text": "older post"},
        status=DeliveryStatus.SENT,
        not_before=datetime.now(UTC) - timedelta(hours=1),
    )
    for user in ZALO_USERS:
        await _follow(page, oa, user, "vi")
    await _follow(page, p.accounts["telegram"], "4242", "vi")
    post_id = await _publish(page, settings)

    async def settled() -> bool:
        rows = await Delivery.filter(publication__post_id=post_id)
        waiting = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)
        return len(rows) == 4 and not any(r.status in waiting for r in rows)

    await eventually(settled, within=15)
    officer = await pagekit.staff(await page.unit)
    [stats] = await posts.publication_stats(officer, post_id)
    assert stats.by_status["sent"] == 2  # Telegram, and the one promotion left this month
    assert stats.by_status["quota_blocked"] == 2
    blocked = await Delivery.filter(status=DeliveryStatus.QUOTA_BLOCKED)
    assert {row.last_error for row in blocked} == {QUOTA_REASON}
    assert len(p.zalo_oa.sent) == 1
    assert (await ChannelAccount.get(id=oa)).last_error == QUOTA_REASON
