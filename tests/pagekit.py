"""Builders for the page tests: a commune with a page carried by channel accounts, staff on
its roster, and followers who have agreed to follow it."""

from __future__ import annotations

from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Contact,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    Role,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.text import fold
from tests.conftest import TEST_SECRET_KEY

KEYRING = Keyring(TEST_SECRET_KEY)

__all__ = ["KEYRING", "ChannelAccount", "Page", "Unit", "UnitLevel"]


async def unit(
    name: str, level: UnitLevel = UnitLevel.COMMUNE, parent: Unit | None = None, code: str = ""
) -> Unit:
    kind, _, bare = name.partition(" ")
    path = f"{parent.path}{parent.id}/" if parent else "/"
    return await Unit.create(
        code=code or None,
        level=level,
        kind=kind,
        name=name,
        name_folded=fold(bare),  # as the unit import stores it: without the kind word
        parent=parent,
        path=path,
    )


async def page(
    commune: Unit, slug: str, *accounts: ChannelAccount, approval: list[str] | None = None
) -> Page:
    created = await Page.create(
        unit=commune, slug=slug, title=f"Công an {commune.name}", approval_categories=approval or []
    )
    for account in accounts:
        await PageChannel.create(page=created, channel_account=account)
    return created


async def account(kind: ChannelKind = ChannelKind.WEBCHAT, name: str = "test") -> ChannelAccount:
    return await ChannelAccount.create(kind=kind, name=name)


async def staff(where: Unit, role: Role = Role.OFFICER, name: str = "Nguyễn Văn An") -> Staff:
    return await Staff.create(full_name=name, role=role, unit=where)


async def contact(on: ChannelAccount, user: str, locale: str | None = "vi") -> Contact:
    found, _ = await find_or_create_contact(
        KEYRING, on, ContactIdentity(platform_user_id=user), locale=locale
    )
    return found


async def followers(
    of: Page, on: ChannelAccount, n: int, *, locale: str = "vi", prefix: str = "user"
) -> list[Contact]:
    result = []
    for i in range(n):
        person = await contact(on, f"{prefix}-{i}", locale)
        await Follow.create(page=of, contact=person, status=FollowStatus.ACTIVE)
        result.append(person)
    return result
