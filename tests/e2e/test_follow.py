"""Following a page end to end, through the fake platform servers in their real wire format:
typing the commune's name (diacritics folded, a typo) on the province's Telegram bot and on a
Zalo Bot, the Zalo OA follow event, and the web page's follow link in the web chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from communepol.db.models import ChannelAccount, Follow, FollowStatus, Page, PageChannel, Unit
from communepol.text import fold
from tests import pagekit
from tests.e2e.conftest import Platforms, eventually
from tests.e2e.test_channels import Resident

ZALO_OA_USER = "6142494823000000001"  # the Zalo OA resident of tests.e2e.test_channels


async def _commune(name: str) -> Unit:
    # Stored as the unit import stores it: the folded name without the kind word.
    unit = await pagekit.unit(name)
    unit.name_folded = fold(name.partition(" ")[2])
    await unit.save(update_fields=["name_folded"])
    return unit


async def _pages(p: Platforms, *platforms: str) -> tuple[Page, Page]:
    """Xã Ea Kar and Xã Cư M'gar, each carried by the accounts of ``platforms``."""
    accounts = [await ChannelAccount.get(id=p.accounts[name]) for name in platforms]
    ea_kar = await pagekit.page(await _commune("Xã Ea Kar"), "ca-xa-ea-kar", *accounts)
    cu_mgar = await pagekit.page(await _commune("Xã Cư M'gar"), "ca-xa-cu-mgar", *accounts)
    return ea_kar, cu_mgar


def _active(p: Platforms, platform: str, page: Page) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await Follow.exists(
            page_id=page.id,
            contact__channel_account_id=p.accounts[platform],
            status=FollowStatus.ACTIVE,
        )

    return check


@pytest.mark.parametrize(
    ("platform", "typo", "folded"),
    [("telegram", "ea kra", "Cư Mgar"), ("zalo-bot", "EA KRA", "cu mgar")],
)
async def test_following_by_typing_the_commune_name(
    platforms: Platforms, platform: str, typo: str, folded: str
) -> None:
    ea_kar, cu_mgar = await _pages(platforms, "telegram", "zalo-bot")
    resident = Resident(platforms, platform)
    await resident.send("/start")
    texts = await resident.replies_after(0)
    assert "Bạn muốn dùng ngôn ngữ nào?" in texts[-1]
    await resident.press(1)  # Tiếng Việt
    texts = await resident.replies_after(len(texts))

    for name, page in ((typo, ea_kar), (folded, cu_mgar)):
        await resident.send("theo dõi")
        texts = await resident.replies_after(len(texts))
        await resident.send(name)
        texts = await resident.replies_after(len(texts))
        assert page.title in texts[-1]  # the consent screen of the right page
        assert await Follow.filter(page_id=page.id, status=FollowStatus.PENDING_CONSENT).exists()
        await resident.press(1)  # Agree: a callback query on Telegram, "1" typed on Zalo Bot
        texts = await resident.replies_after(len(texts))
        await eventually(_active(platforms, platform, page))
        assert page.title in texts[-1]


async def test_a_zalo_oa_follow_shows_the_consent_screen_and_an_unfollow_stops(
    platforms: Platforms,
) -> None:
    account = platforms.accounts["zalo-oa"]
    oa = await ChannelAccount.get(id=account)
    ea_kar = await pagekit.page(await _commune("Xã Ea Kar"), "ca-xa-ea-kar", oa)  # its only page
    fake = platforms.zalo_oa
    body, headers = fake.signed(fake.follow_event(ZALO_OA_USER))
    response = await platforms.client.post(
        f"/webhooks/zalo-oa/{account}", data=body, headers=headers
    )
    assert response.status == 200
    resident = Resident(platforms, "zalo-oa")
    texts = await resident.replies_after(0)
    assert "Bạn muốn dùng ngôn ngữ nào?" in texts[-1]
    await resident.press(1)
    texts = await resident.replies_after(len(texts))
    assert ea_kar.title in texts[-1]
    await resident.press(1)  # Agree
    await resident.replies_after(len(texts))
    await eventually(_active(platforms, "zalo-oa", ea_kar))

    body, headers = fake.signed(fake.unfollow_event(ZALO_OA_USER))
    response = await platforms.client.post(
        f"/webhooks/zalo-oa/{account}", data=body, headers=headers
    )
    assert response.status == 200

    async def stopped() -> bool:
        return await Follow.filter(page_id=ea_kar.id, status=FollowStatus.STOPPED).exists()

    await eventually(stopped)


async def test_the_web_follow_link_starts_following_in_the_web_chat(platforms: Platforms) -> None:
    ea_kar, _ = await _pages(platforms, "webchat")
    html = await (await platforms.client.get(f"/p/{ea_kar.slug}?follow=1")).text()
    assert f'data-page-id="{ea_kar.id}"' in html
    assert await PageChannel.exists(page_id=ea_kar.id)
    resident = Resident(platforms, "webchat")
    await resident.send(f"/start p{ea_kar.id}")  # what chat.js sends for ?follow=1
    texts = await resident.replies_after(0)
    assert "Bạn muốn dùng ngôn ngữ nào?" in texts[-1]
    await resident.press(2)  # English
    texts = await resident.replies_after(len(texts))
    assert texts[-1].startswith("To send you the posts and alerts of Công an Xã Ea Kar")
    await resident.press(1)
    texts = await resident.replies_after(len(texts))
    assert "you now follow Công an Xã Ea Kar" in texts[-1]
    assert (await Follow.get(page_id=ea_kar.id)).source == "web"
