"""Pages as the public sees them: the list of pages and one page with its posts.

Read-only for now; creating and publishing posts arrives with the information-pages work.
A post is shown in the reader's language when translated, else in the page's language, else
in whatever language it was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.queryset import QuerySet

from communepol.clock import utcnow
from communepol.db.models import (
    ChannelKind,
    ChannelStatus,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
)
from communepol.errors import NotFound


@dataclass(frozen=True)
class PageSummary:
    slug: str
    title: str
    unit_name: str
    followers: int


@dataclass(frozen=True)
class PostView:
    id: int
    category: str
    title: str
    body: str
    locale: str
    published_at: datetime | None
    scheduled_for: datetime | None
    recurring: bool


@dataclass(frozen=True)
class PublicPage:
    slug: str
    title: str
    description: str
    unit_name: str
    followers: int
    published: list[PostView]
    upcoming: list[PostView]
    chat_account_id: int | None = None  # the web chat account carrying this page, if any
    id: int = 0  # the page's id (the web chat's follow payload ``p{id}``)


@dataclass(frozen=True)
class PagePostView(PostView):
    """A post with the page it belongs to, for lists that mix several pages (the bot's)."""

    page_slug: str = ""
    page_title: str = ""


def pick_translation(
    translations: Iterable[PostTranslation], locale: str, fallback_locale: str
) -> PostTranslation | None:
    """The reader's language, else the page's, else the first written."""
    by_locale = {t.locale: t for t in translations}
    return (
        by_locale.get(locale)
        or by_locale.get(fallback_locale)
        or next(iter(sorted(by_locale.values(), key=lambda t: t.id)), None)
    )


async def _follower_counts(page_ids: list[int]) -> dict[int, int]:
    rows = (
        await Follow.filter(page_id__in=page_ids, status=FollowStatus.ACTIVE)
        .group_by("page_id")
        .annotate(n=Count("id"))
        .values_list("page_id", "n")
    )
    return {int(page_id): int(n) for page_id, n in rows}


async def list_public_pages() -> list[PageSummary]:
    pages = await Page.filter(active=True).select_related("unit").order_by("title")
    counts = await _follower_counts([p.id for p in pages])
    return [PageSummary(p.slug, p.title, p.unit.name, counts.get(p.id, 0)) for p in pages]


def _post_view(post: Post, locale: str, fallback: str) -> PostView | None:
    translation = pick_translation(post.translations, locale, fallback)
    if translation is None:
        return None
    return PostView(
        id=post.id,
        category=str(post.category),
        title=translation.title,
        body=translation.body,
        locale=translation.locale,
        published_at=post.published_at,
        scheduled_for=post.next_run_at,
        recurring=post.cron_expression is not None,
    )


async def public_page(slug: str, locale: str, *, limit: int = 20) -> PublicPage:
    page = await Page.filter(slug=slug, active=True).select_related("unit").first()
    if page is None:
        raise NotFound("page not found")
    published = (
        await Post.filter(page_id=page.id, status=PostStatus.PUBLISHED)
        .order_by("-published_at")
        .limit(limit)
        .prefetch_related("translations")
    )
    upcoming = (
        await Post.filter(page_id=page.id, status=PostStatus.SCHEDULED)
        .order_by("next_run_at")
        .limit(limit)
        .prefetch_related("translations")
    )
    counts = await _follower_counts([page.id])
    chat_account_id = (
        await PageChannel.filter(
            page_id=page.id,
            channel_account__kind=ChannelKind.WEBCHAT,
            channel_account__status=ChannelStatus.ACTIVE,
        )
        .first()
        .values_list("channel_account_id", flat=True)
    )
    return PublicPage(
        id=page.id,
        chat_account_id=int(chat_account_id) if chat_account_id else None,  # type: ignore[call-overload]
        slug=page.slug,
        title=page.title,
        description=page.description,
        unit_name=page.unit.name,
        followers=counts.get(page.id, 0),
        published=[v for p in published if (v := _post_view(p, locale, page.default_locale))],
        upcoming=[v for p in upcoming if (v := _post_view(p, locale, page.default_locale))],
    )


def _readable(page_ids: Sequence[int], now: datetime) -> QuerySet[Post]:
    """The published, unexpired posts of these pages."""
    return Post.filter(page_id__in=list(page_ids), status=PostStatus.PUBLISHED).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


async def post_categories(page_ids: Sequence[int], *, now: datetime | None = None) -> list[str]:
    """The categories that have readable posts on these pages, in the categories' order."""
    if not page_ids:
        return []
    rows = await _readable(page_ids, now or utcnow()).distinct().values_list("category", flat=True)
    present = {str(row) for row in rows}
    return [category.value for category in PostCategory if category.value in present]


async def recent_posts(
    page_ids: Sequence[int],
    *,
    locale: str,
    category: str | None = None,
    limit: int = 5,
    now: datetime | None = None,
) -> list[PagePostView]:
    """The newest published, unexpired posts of these pages (of one ``category`` if given), in
    the reader's language when translated, else the page's, else the first written."""
    if not page_ids:
        return []
    query = _readable(page_ids, now or utcnow())
    if category is not None:
        query = query.filter(category=category)
    posts = (
        await query.order_by("-published_at", "-id")
        .limit(limit)
        .select_related("page")
        .prefetch_related("translations")
    )
    views = []
    for post in posts:
        view = _post_view(post, locale, post.page.default_locale)
        if view is not None:
            views.append(
                PagePostView(**vars(view), page_slug=post.page.slug, page_title=post.page.title)
            )
    return views
