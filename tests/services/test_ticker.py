"""The ticker publishes each occurrence of a post exactly once: after a restart, on a late
tick, when the clock jumps back or forward, and — on PostgreSQL — with two processes ticking
at once; recurring posts fire on their cron in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import asyncio
import itertools
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.context import TortoiseContext

from communepol.db.models import (
    Delivery,
    Page,
    Post,
    PostStatus,
    Publication,
    ScheduleKind,
    Staff,
)
from communepol.i18n import I18n
from communepol.jobs import Ticker
from communepol.services import posts
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.settings import Settings
from tests import pagekit
from tests.conftest import POSTGRES_URL

I18N = I18n.load()
NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Asia/Ho_Chi_Minh


async def _setup(n_followers: int = 3) -> tuple[Page, Staff]:
    commune = await pagekit.unit("Xã Ea Kar")
    account = await pagekit.account()
    page = await pagekit.page(commune, "ea-kar", account)
    await pagekit.followers(page, account, n_followers)
    officer = await pagekit.staff(commune)
    return page, officer


def _text(title: str = "Cảnh báo lừa đảo") -> list[Translation]:
    return [Translation("vi", title, "Không chuyển tiền cho người lạ.")]


async def _scheduled(
    settings: Settings, page: Page, officer: Staff, data: PostInput, now: datetime
) -> Post:
    post = await posts.create_post(officer, page.id, data, settings)
    # Submitted "at" ``now``: the first occurrence is computed from it.
    await Post.filter(id=post.id).update(created_at=now)
    post = await posts.submit_post(officer, post.id, settings)
    return post


async def _occurrences(post: Post) -> list[datetime]:
    rows = await Publication.filter(post_id=post.id).order_by("occurrence_at")
    return [row.occurrence_at for row in rows]


async def test_a_post_due_while_the_service_was_down_is_published_once_after_restart(
    db: TortoiseContext, settings: Settings
) -> None:
    page, officer = await _setup()
    at = datetime.now(UTC) + timedelta(minutes=5)
    post = await _scheduled(
        settings, page, officer, PostInput("fraud_warning", _text(), ScheduleKind.ONCE, at=at), at
    )
    assert post.status is PostStatus.SCHEDULED and post.next_run_at == at

    before = await Publisher(settings, I18N).publish_due(at - timedelta(seconds=1))
    assert before == []  # not yet due
    # The service was down when it fell due; a new process starts an hour later.
    late = at + timedelta(hours=1)
    first = await Publisher(settings, I18N).publish_due(late)
    restarted = await Publisher(settings, I18N).publish_due(late + timedelta(seconds=2))
    assert len(first) == 1 and restarted == []
    assert await _occurrences(post) == [at]
    assert await Delivery.filter(publication_id=first[0]).count() == 3
    post = await Post.get(id=post.id)
    assert post.status is PostStatus.PUBLISHED and post.next_run_at is None


async def test_clock_jumping_back_and_forward_publishes_each_occurrence_once(
    db: TortoiseContext, settings: Settings
) -> None:
    page, officer = await _setup()
    start = datetime.now(UTC)
    # Every day at 07:00 in Vietnam: 00:00 UTC.
    post = await _scheduled(
        settings,
        page,
        officer,
        PostInput("announcement", _text("Bản tin sáng"), ScheduleKind.CRON, cron="0 7 * * *"),
        start,
    )
    first = post.next_run_at
    assert first is not None and (first.hour, first.minute) == (0, 0)
    publisher = Publisher(settings, I18N)

    assert len(await publisher.publish_due(first + timedelta(seconds=1))) == 1
    # The clock jumps back an hour, then returns: nothing is published again.
    assert await publisher.publish_due(first - timedelta(hours=1)) == []
    assert await publisher.publish_due(first + timedelta(seconds=30)) == []
    second = (await Post.get(id=post.id)).next_run_at
    assert second == first + timedelta(days=1)

    # The clock jumps three and a half days forward: the missed mornings go out once, not
    # three times, and the next one is in the future.
    jumped = second + timedelta(days=3, hours=12)
    assert len(await publisher.publish_due(jumped)) == 1
    assert await publisher.publish_due(jumped) == []
    after = (await Post.get(id=post.id)).next_run_at
    assert after == first + timedelta(days=5)
    assert await _occurrences(post) == [first, second]
    assert (await Post.get(id=post.id)).status is PostStatus.SCHEDULED


async def test_recurring_posts_fire_on_their_cron_in_vietnam_time(
    db: TortoiseContext, settings: Settings
) -> None:
    page, officer = await _setup(n_followers=1)
    # Mondays at 18:30 Vietnam time = 11:30 UTC.
    post = await _scheduled(
        settings,
        page,
        officer,
        PostInput("procedure", _text("Lịch tiếp dân"), ScheduleKind.CRON, cron="30 18 * * mon"),
        NOON,
    )
    publisher = Publisher(settings, I18N)
    fired = []
    clock = post.next_run_at
    assert clock is not None
    for _ in range(3):
        await publisher.publish_due(clock)
        fired = await _occurrences(post)
        clock = (await Post.get(id=post.id)).next_run_at
        assert clock is not None
    assert len(fired) == 3
    for occurrence in fired:
        local = occurrence.astimezone(settings.tz)
        assert (local.weekday(), local.hour, local.minute) == (0, 18, 30)
    assert [b - a for a, b in itertools.pairwise(fired)] == [timedelta(days=7)] * 2


async def test_a_late_tick_and_a_repeated_tick_publish_once(
    db: TortoiseContext, settings: Settings
) -> None:
    page, officer = await _setup()
    published: list[int] = []
    ticker = Ticker(Publisher(settings, I18N), on_published=lambda: published.append(1))
    post = await _scheduled(
        settings, page, officer, PostInput("health", _text("Tiêm phòng")), datetime.now(UTC)
    )
    late = datetime.now(UTC) + timedelta(minutes=10)
    results = await asyncio.gather(ticker.publish(late), ticker.publish(late))
    assert sorted(len(r) for r in results) == [0, 1]
    assert published == [1]
    assert len(await _occurrences(post)) == 1
    assert await Delivery.filter(publication__post_id=post.id).count() == 3


async def test_an_expired_post_is_not_published(db: TortoiseContext, settings: Settings) -> None:
    page, officer = await _setup()
    now = datetime.now(UTC)
    post = await _scheduled(
        settings,
        page,
        officer,
        PostInput(
            "announcement",
            _text(),
            ScheduleKind.ONCE,
            at=now + timedelta(hours=1),
            expires_at=now + timedelta(hours=2),
        ),
        now,
    )
    assert await Publisher(settings, I18N).publish_due(now + timedelta(hours=3)) == []
    assert (await Post.get(id=post.id)).status is PostStatus.EXPIRED
    assert await _occurrences(post) == []


_TICKING_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, timedelta, UTC
    from communepol.db.orm import open_database
    from communepol.i18n import I18n
    from communepol.services.posts import Publisher
    from communepol.settings import Settings

    async def main(url):
        settings = Settings(secret_key="x" * 40, database_url=url)
        publisher = Publisher(settings, I18n.load())
        base = datetime.now(UTC) + timedelta(minutes=10)
        async with open_database(url):
            for step in range(40):
                # Each process's clock is a little different; both tick late and often.
                await publisher.publish_due(base + timedelta(days=step), limit=7)

    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.skipif(not POSTGRES_URL, reason="needs COMMUNEPOL_TEST_POSTGRES_URL (set in CI)")
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_processes_on_postgres_publish_each_occurrence_once(
    db: TortoiseContext, settings: Settings, database_url: str
) -> None:
    page, officer = await _setup(n_followers=20)
    now = datetime.now(UTC)
    created = []
    for i in range(15):
        data = PostInput("announcement", _text(f"Tin {i}"))
        if i % 3 == 0:
            data = PostInput("announcement", _text(f"Tin {i}"), ScheduleKind.CRON, cron="0 7 * * *")
        created.append(await _scheduled(settings, page, officer, data, now))
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", _TICKING_PROCESS, database_url)
        for _ in range(2)
    ]
    for process in processes:
        assert await asyncio.wait_for(process.wait(), 120) == 0
    for post in created:
        occurrences = await _occurrences(post)
        assert len(occurrences) == len(set(occurrences)) >= 1
    total = await Publication.all().count()
    # Every publication reached all 20 followers once; no delivery was planned twice.
    assert await Delivery.all().count() == total * 20
    assert await Delivery.filter(dedup_key__startswith="pub:").count() == total * 20
