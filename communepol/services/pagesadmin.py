"""Pages as staff run them: creating a unit's page, changing its title, approval rules and
whether it is shown, the channel accounts that carry it, a Zalo OA's promotion quota, and what
became of its posts (their schedule, each publication's delivery counts, stopping one).

The `communepol pages …`, `posts …` and `channels quota` commands call this module; the
admin web will call the same functions. There is no staff scope here: the caller acts as an
administrator and names itself in the audit trail with ``actor_label`` (and ``source``).
Every change is recorded there; a call that changes nothing records nothing.

Rules kept here and nowhere else:

- a slug is 3–100 characters of ``a-z``, ``0-9`` and ``-``, not starting or ending with ``-``
  (it is the page's public address ``/p/{slug}``); made from the unit's name when not given;
- a Zalo OA is exactly one page — residents follow the OA itself, so it cannot carry a second
  page —, while a Telegram bot, a Zalo Bot or the web chat carries any number of pages;
- only a Zalo OA has a monthly promotion quota (its package's), 0 to 1,000,000 or none.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    Post,
    PostCategory,
    PostStatus,
    Publication,
    ReceiveMode,
    Role,
    ScheduleKind,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.errors import Conflict, NotFound, PermissionDenied, ValidationError
from communepol.i18n import SUPPORTED_LOCALES, _
from communepol.services import audit, channels, scope
from communepol.services.pages import pick_translation
from communepol.services.posts import PublicationStats, halt_publication, stats_of
from communepol.services.units import subtree_prefix
from communepol.text import clean, clean_message, fold

SLUG_MIN = 3
SLUG_MAX = 100
TITLE_MAX = 200  # the column's size
DESCRIPTION_MAX = 2000
QUOTA_MAX = 1_000_000
TITLE_PREFIX = "Công an "

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Room kept at the end of a generated slug for a collision suffix ("-24181", "-12").
_SUFFIX_ROOM = 12


def _kind_name(kind: ChannelKind) -> str:
    """The operator's name of a kind, as in the CLI and webhook paths (zalo_oa → zalo-oa)."""
    return kind.value.replace("_", "-")


# --- checks -----------------------------------------------------------------------------------


def check_slug(slug: str) -> str:
    """``slug`` if it can be a page's address; `ValidationError` otherwise."""
    text = slug.strip()
    if not (SLUG_MIN <= len(text) <= SLUG_MAX and _SLUG.fullmatch(text)):
        raise ValidationError(
            _(
                "the slug {slug!r} is not valid: {least} to {most} characters of a-z, 0-9 "
                "and '-', not starting or ending with '-'"
            ),
            field="slug",
            slug=slug,
            least=SLUG_MIN,
            most=SLUG_MAX,
        )
    return text


def slug_base(name: str) -> str:
    """The slug a name suggests, before collisions: ``"Xã Cư M'gar"`` → ``"xa-cu-mgar"``.
    May be shorter than a slug must be (a one-letter name); `create_page` pads it."""
    base = _NOT_SLUG.sub("-", fold(name)).strip("-")
    return base[: SLUG_MAX - _SUFFIX_ROOM].rstrip("-")


def check_title(title: str) -> str:
    text = clean(title)
    if not text:
        raise ValidationError(_("a page needs a title"), field="title")
    if len(text) > TITLE_MAX:
        raise ValidationError(
            _("a page title has at most {limit} characters"), field="title", limit=TITLE_MAX
        )
    return text


def check_description(description: str) -> str:
    text = clean_message(description)
    if len(text) > DESCRIPTION_MAX:
        raise ValidationError(
            _("a page description has at most {limit} characters"),
            field="description",
            limit=DESCRIPTION_MAX,
        )
    return text


def check_categories(values: Iterable[str]) -> list[str]:
    """Post categories (``missing_person`` or ``missing-person``), once each, in the order
    `PostCategory` lists them; `ValidationError` naming an unknown one."""
    chosen: set[PostCategory] = set()
    for value in values:
        try:
            chosen.add(PostCategory(value.strip().lower().replace("-", "_")))
        except ValueError as err:
            choices = ", ".join(c.value for c in PostCategory)
            raise ValidationError(
                _("unknown post category {category!r}; one of {choices}"),
                field="approval_categories",
                category=value,
                choices=choices,
            ) from err
    return [category.value for category in PostCategory if category in chosen]


def check_locale(locale: str) -> str:
    if locale not in SUPPORTED_LOCALES:
        raise ValidationError(
            _("unsupported language {language!r}; one of {choices}"),
            field="default_locale",
            language=locale,
            choices=", ".join(SUPPORTED_LOCALES),
        )
    return locale


def default_title(unit: Unit) -> str:
    """The page title a unit suggests: "Công an xã Ea Kar" for "Xã Ea Kar". The unit's kind
    word is lower case mid-name, as the police write it ("Công an tỉnh Đắk Lắk")."""
    name = unit.name
    if unit.kind and name.startswith(unit.kind):
        name = unit.kind.lower() + name[len(unit.kind) :]
    return TITLE_PREFIX + name


# --- pages ------------------------------------------------------------------------------------


async def get_page(slug: str) -> Page:
    """The page ``slug`` (active or not) with its unit; `NotFound` otherwise."""
    page = await Page.filter(slug=slug.strip()).select_related("unit").first()
    if page is None:
        raise NotFound(_("no page with slug {slug!r}"), slug=slug)
    return page


async def _free_slug(unit: Unit) -> str:
    """A slug from the unit's name that no page has: the name, else the name and the unit's
    code, else the name and -2, -3 …"""
    base = slug_base(unit.name)
    if len(base) < SLUG_MIN:
        base = f"page-{unit.code or unit.id}"
    taken = set(await Page.filter(slug__startswith=base).values_list("slug", flat=True))
    candidates = [base]
    if unit.code:
        candidates.append(f"{base}-{unit.code.lower()}")
    for candidate in candidates:
        if candidate not in taken and len(candidate) <= SLUG_MAX and _SLUG.fullmatch(candidate):
            return candidate
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


async def create_page(
    unit: Unit,
    *,
    slug: str | None = None,
    title: str | None = None,
    description: str = "",
    default_locale: str = "vi",
    approval_categories: Iterable[str] = (),
    actor_label: str = "cli",
    source: str = "cli",
) -> Page:
    """A new, active page of ``unit``. Everything is checked before anything is written:
    `ValidationError` for bad input, `Conflict` when the slug is taken."""
    if unit.level is UnitLevel.HAMLET:
        raise ValidationError(
            _("{unit} is a hamlet: pages belong to communes, wards, districts and provinces"),
            field="unit",
            unit=unit.name,
        )
    if not unit.active:
        raise ValidationError(_("{unit} is no longer an active unit"), field="unit", unit=unit.name)
    page_title = check_title(title if title is not None else default_title(unit))
    text = check_description(description)
    locale = check_locale(default_locale)
    categories = check_categories(approval_categories)
    if slug is None:
        page_slug = await _free_slug(unit)
    else:
        page_slug = check_slug(slug)
        if await Page.filter(slug=page_slug).exists():
            raise Conflict(_("a page with slug {slug!r} already exists"), slug=page_slug)
    try:
        async with in_transaction(raw.connection(Page).connection_name):
            page = await Page.create(
                unit=unit,
                slug=page_slug,
                title=page_title,
                description=text,
                default_locale=locale,
                approval_categories=categories,
            )
            await audit.record(
                "page.created",
                actor_label=actor_label,
                object_type="page",
                object_id=page.id,
                unit_id=unit.id,
                source=source,
                data={"slug": page_slug, "title": page_title, "approval": ",".join(categories)},
            )
    except IntegrityError as err:  # another page took the slug between the check and now
        raise Conflict(_("a page with slug {slug!r} already exists"), slug=page_slug) from err
    return page


async def update_page(
    page: Page,
    *,
    title: str | None = None,
    description: str | None = None,
    approval_categories: Iterable[str] | None = None,
    active: bool | None = None,
    actor_label: str = "cli",
    source: str = "cli",
) -> list[str]:
    """Change what is given (None: leave as is; an empty ``approval_categories`` clears
    them). The names of the fields that changed, in that order; [] when nothing did."""
    changes: dict[str, object] = {}
    if title is not None and (new_title := check_title(title)) != page.title:
        changes["title"] = new_title
    if description is not None and (text := check_description(description)) != page.description:
        changes["description"] = text
    if approval_categories is not None:
        categories = check_categories(approval_categories)
        if categories != list(page.approval_categories or []):
            changes["approval_categories"] = categories
    if active is not None and active != page.active:
        changes["active"] = active
    if not changes:
        return []
    async with in_transaction(raw.connection(Page).connection_name):
        await Page.filter(id=page.id).update(**changes)
        await _page_audit(
            "page.updated",
            page,
            actor_label,
            source,
            {name: _audit_value(name, value) for name, value in changes.items()},
        )
    for name, changed in changes.items():
        setattr(page, name, changed)
    return list(changes)


def _audit_value(name: str, value: object) -> object:
    if name == "description":
        return "changed"  # free text, and long: the trail notes only that it changed
    return ",".join(value) if isinstance(value, list) else value


async def _page_audit(
    action: str, page: Page, actor_label: str, source: str, data: dict[str, Any]
) -> None:
    await audit.record(
        action,
        actor_label=actor_label,
        object_type="page",
        object_id=page.id,
        unit_id=page.unit_id,  # type: ignore[attr-defined]
        source=source,
        data=data,
    )


async def attach_channel(
    page: Page, account: ChannelAccount, *, actor_label: str = "cli", source: str = "cli"
) -> bool:
    """Make ``account`` carry ``page``; False when it already did. `Conflict` when
    ``account`` is a Zalo OA that carries another page: a Zalo OA is exactly one page."""
    async with in_transaction(raw.connection(PageChannel).connection_name):
        if account.kind is ChannelKind.ZALO_OA:
            # Locking the account row serialises two attaches to one OA (PostgreSQL).
            await ChannelAccount.filter(id=account.id).select_for_update().first()
            other = (
                await PageChannel.filter(channel_account_id=account.id)
                .exclude(page_id=page.id)
                .select_related("page")
                .first()
            )
            if other is not None:
                raise Conflict(
                    _(
                        "zalo-oa account {account} already carries page {slug!r}: "
                        "a Zalo OA is exactly one page (detach that page first)"
                    ),
                    account=account.id,
                    slug=other.page.slug,
                )
        _link, created = await PageChannel.get_or_create(page=page, channel_account=account)
        if created:
            await _page_audit(
                "page.channel_attached",
                page,
                actor_label,
                source,
                {"account": account.id, "kind": account.kind.value},
            )
    return created


async def detach_channel(
    page: Page, account: ChannelAccount, *, actor_label: str = "cli", source: str = "cli"
) -> bool:
    """``account`` no longer carries ``page``; False when it did not."""
    async with in_transaction(raw.connection(PageChannel).connection_name):
        removed = await PageChannel.filter(page_id=page.id, channel_account_id=account.id).delete()
        if removed:
            await _page_audit(
                "page.channel_detached",
                page,
                actor_label,
                source,
                {"account": account.id, "kind": account.kind.value},
            )
    return bool(removed)


async def set_promotion_quota(
    account: ChannelAccount,
    quota: int | None,
    *,
    actor_label: str = "cli",
    source: str = "cli",
) -> bool:
    """A Zalo OA's promotion messages per calendar month, as its package allows (None: not
    limited). Whether it changed."""
    if account.kind is not ChannelKind.ZALO_OA:
        raise ValidationError(
            _("{kind} account {account} has no promotion quota: only a zalo-oa account has one"),
            field="quota",
            kind=_kind_name(account.kind),
            account=account.id,
        )
    if quota is not None and (isinstance(quota, bool) or not 0 <= quota <= QUOTA_MAX):
        raise ValidationError(
            _("a promotion quota is a whole number from 0 to {limit:,}, or none (not limited)"),
            field="quota",
            limit=QUOTA_MAX,
        )
    if account.monthly_promotion_quota == quota:
        return False
    async with in_transaction(raw.connection(ChannelAccount).connection_name):
        await ChannelAccount.filter(id=account.id).update(monthly_promotion_quota=quota)
        await audit.record(
            "channel.quota_set",
            actor_label=actor_label,
            object_type="channel_account",
            object_id=account.id,
            source=source,
            data={"before": account.monthly_promotion_quota, "quota": quota},
        )
    account.monthly_promotion_quota = quota
    return True


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRow:
    id: int
    slug: str
    title: str
    unit_name: str
    unit_code: str | None
    followers: int  # active follows
    channel_kinds: tuple[ChannelKind, ...]  # of the accounts carrying it, each kind once
    active: bool


async def _follower_counts(page_ids: Sequence[int]) -> dict[int, int]:
    if not page_ids:
        return {}
    rows = (
        await Follow.filter(page_id__in=list(page_ids), status=FollowStatus.ACTIVE)
        .group_by("page_id")
        .annotate(n=Count("id"))
        .values_list("page_id", "n")
    )
    return {int(page_id): int(n) for page_id, n in rows}


async def list_pages(within: Unit | None = None) -> list[PageRow]:
    """Every page (active or not), or those of ``within`` and the units below it, by slug."""
    query = Page.all()
    if within is not None:
        query = query.filter(
            Q(unit_id=within.id) | Q(unit__path__startswith=subtree_prefix(within))
        )
    pages = await query.select_related("unit").order_by("slug")
    ids = [page.id for page in pages]
    followers = await _follower_counts(ids)
    kinds: dict[int, set[ChannelKind]] = {}
    if ids:
        links = await PageChannel.filter(page_id__in=ids).values_list(
            "page_id", "channel_account__kind"
        )
        for page_id, kind in links:
            kinds.setdefault(int(page_id), set()).add(ChannelKind(kind))
    order = list(ChannelKind)
    return [
        PageRow(
            id=page.id,
            slug=page.slug,
            title=page.title,
            unit_name=page.unit.name,
            unit_code=page.unit.code,
            followers=followers.get(page.id, 0),
            channel_kinds=tuple(sorted(kinds.get(page.id, ()), key=order.index)),
            active=page.active,
        )
        for page in pages
    ]


@dataclass(frozen=True)
class PageDetails:
    page: Page  # with its unit
    followers: int
    accounts: list[ChannelAccount]  # carrying it, by id


async def page_details(slug: str) -> PageDetails:
    page = await get_page(slug)
    followers = (await _follower_counts([page.id])).get(page.id, 0)
    accounts = await ChannelAccount.filter(pages__page_id=page.id).order_by("id")
    return PageDetails(page, followers, list(accounts))


@dataclass(frozen=True)
class PostRow:
    id: int
    category: PostCategory
    status: PostStatus
    schedule: ScheduleKind
    cron: str | None
    next_run_at: datetime | None
    published_at: datetime | None
    title: str  # in the page's language if translated, else the first written
    latest: PublicationStats | None  # its latest publication, if it has gone out


async def page_posts(page: Page, limit: int = 20) -> list[PostRow]:
    """The page's newest ``limit`` posts, newest first, each with its latest publication."""
    posts = (
        await Post.filter(page_id=page.id)
        .order_by("-created_at", "-id")
        .limit(limit)
        .prefetch_related("translations")
    )
    latest: dict[int, Publication] = {}
    if posts:
        publications = await Publication.filter(post_id__in=[post.id for post in posts]).order_by(
            "-occurrence_at", "-id"
        )
        for publication in publications:
            latest.setdefault(publication.post_id, publication)  # type: ignore[attr-defined]
    rows = []
    for post in posts:
        translation = pick_translation(post.translations, page.default_locale, page.default_locale)
        last = latest.get(post.id)
        rows.append(
            PostRow(
                id=post.id,
                category=post.category,
                status=post.status,
                schedule=post.schedule_kind,
                cron=post.cron_expression,
                next_run_at=post.next_run_at,
                published_at=post.published_at,
                title=translation.title if translation else "",
                latest=await stats_of(last) if last is not None else None,
            )
        )
    return rows


async def post_stats(post_id: int) -> tuple[Post, list[PublicationStats]]:
    """A post (with its page) and what happened to each of its publications, newest first."""
    post = await Post.filter(id=post_id).select_related("page").first()
    if post is None:
        raise NotFound(_("no post {post}"), post=post_id)
    publications = await Publication.filter(post_id=post.id).order_by("-occurrence_at", "-id")
    return post, [await stats_of(publication) for publication in publications]


# --- stopping -----------------------------------------------------------------------------------


async def stop_publication(
    publication_id: int, *, actor_label: str = "cli", source: str = "cli"
) -> int:
    """Stop a broadcast from the command line (`communepol.services.posts.halt_publication`):
    how many deliveries were cancelled."""
    return await halt_publication(publication_id, actor_label=actor_label, source=source)


# --- the admin web: the same reads and writes, kept to a staff member's scope ----------------


@dataclass(frozen=True)
class AccountHealth:
    """What staff see of a channel account: never its secrets."""

    account: ChannelAccount
    webhook_path: str | None  # where the platform must POST, for an account that receives so


def _webhook_path(account: ChannelAccount) -> str | None:
    if account.kind is ChannelKind.WEBCHAT or account.receive_mode is not ReceiveMode.WEBHOOK:
        return None
    return f"/webhooks/{_kind_name(account.kind)}/{account.id}"


async def pages_in_scope(staff: Staff) -> list[PageRow]:
    """`list_pages` of ``staff``'s unit and the units below it."""
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, unit)
    return await list_pages(within=unit)


async def page_in_scope(staff: Staff, slug: str) -> tuple[PageDetails, list[AccountHealth]]:
    """`page_details` when the page's unit is in ``staff``'s scope (`NotFound` otherwise),
    with each carrying account's health."""
    details = await page_details(slug)
    await scope.require_unit(staff, details.page.unit)
    return details, [AccountHealth(a, _webhook_path(a)) for a in details.accounts]


def may_manage_channels(staff: Staff) -> bool:
    """Adding and attaching channel accounts is an admin's job: a token is the station's
    voice on the platform."""
    return staff.active and staff.role is Role.ADMIN


def _require_channel_admin(staff: Staff) -> None:
    if not may_manage_channels(staff):
        raise PermissionDenied(_("only an admin adds or attaches channel accounts"))


async def attachable_accounts(staff: Staff, page: Page) -> list[ChannelAccount]:
    """Accounts an admin may attach to ``page``: those carrying no page or only pages of their
    scope, not carrying ``page`` yet; a Zalo OA only while it carries no page."""
    if not may_manage_channels(staff):
        return []
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    links = await PageChannel.all().select_related("page__unit")
    outside: set[int] = set()
    used: set[int] = set()
    here: set[int] = set()
    for link in links:
        account_id = int(link.channel_account_id)  # type: ignore[attr-defined]
        used.add(account_id)
        if link.page.id == page.id:
            here.add(account_id)
        if not scope.unit_covers(unit, link.page.unit):
            outside.add(account_id)
    accounts = await ChannelAccount.exclude(kind=ChannelKind.WEBCHAT).order_by("id")
    return [
        account
        for account in accounts
        if account.id not in outside
        and account.id not in here
        and not (account.kind is ChannelKind.ZALO_OA and account.id in used)
    ]


async def add_account_for_page(
    keyring: Keyring,
    staff: Staff,
    slug: str,
    *,
    kind: ChannelKind,
    name: str,
    public_handle: str | None,
    credentials: Mapping[str, str],
    receive_mode: ReceiveMode = ReceiveMode.WEBHOOK,
) -> ChannelAccount:
    """A new Telegram bot, Zalo Bot or Zalo OA account carrying the page ``slug``, its
    credentials sealed (`channels.new_account_secrets`); an admin of the page's scope only.
    Nothing of the credentials reaches the audit trail or an error message."""
    _require_channel_admin(staff)
    details, _health = await page_in_scope(staff, slug)
    if kind is ChannelKind.WEBCHAT:
        raise ValidationError(_("choose Telegram, Zalo Bot or Zalo OA"), field="kind")
    channels.check_receive_mode(kind, receive_mode)
    secrets = channels.new_account_secrets(kind, credentials)
    handle = clean(public_handle or "")[:200] or None
    async with in_transaction(raw.connection(ChannelAccount).connection_name):
        account = await channels.create_channel_account(
            keyring, kind=kind, name=name, public_handle=handle, secrets=secrets
        )
        if receive_mode is not account.receive_mode:
            await ChannelAccount.filter(id=account.id).update(receive_mode=receive_mode)
            account.receive_mode = receive_mode
        await audit.record(
            "channel.added",
            actor=staff,
            object_type="channel_account",
            object_id=account.id,
            unit_id=details.page.unit.id,
            source="web",
            data={"kind": kind.value, "receive_mode": receive_mode.value},
        )
        await attach_channel(details.page, account, actor_label=staff.full_name, source="web")
    return account


async def attach_in_scope(staff: Staff, slug: str, account_id: int) -> bool:
    """`attach_channel` for an admin: the page in their scope, the account one of
    `attachable_accounts` (else `NotFound`)."""
    _require_channel_admin(staff)
    details, _health = await page_in_scope(staff, slug)
    allowed = {account.id: account for account in await attachable_accounts(staff, details.page)}
    account = allowed.get(account_id)
    if account is None:
        raise NotFound("not found")
    return await attach_channel(details.page, account, actor_label=staff.full_name, source="web")
