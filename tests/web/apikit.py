"""Builders for the REST API tests: a province with two districts, their communes, hamlets,
households, tips (one anonymous with sentinel identities, one named) and staff with tokens.

Province Đắk Lắk → district D1 (communes A and B) and district D2 (commune C). Officers of A and
B, supervisors of D1 and D2, each with a personal API token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from communepol.clock import utcnow
from communepol.db.models import (
    Alert,
    ChannelKind,
    Household,
    Page,
    Post,
    Publication,
    Role,
    Staff,
    Tip,
    Unit,
    UnitLevel,
)
from communepol.i18n import I18n
from communepol.services import alerts, apitokens, posts
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from communepol.settings import Settings
from tests import pagekit

I18N = I18n.load()
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

# What the anonymous tipster's platform told us: it must never reach an API response.
SENTINEL_ID = "987654321"
SENTINEL_NAME = "SENTINEL Tipster"
NAMED_ID = "555000111"
NAMED_NAME = "Hoàng Thị Lan"


@dataclass
class World:
    province: Unit
    d1: Unit
    d2: Unit
    a: Unit
    b: Unit
    c: Unit
    hamlet_a: Unit
    hamlet_b: Unit
    officer_a: Staff
    officer_b: Staff
    supervisor_d1: Staff
    supervisor_d2: Staff
    tokens: dict[str, str]  # who → bearer token
    tip_a: Tip  # anonymous, from the sentinel tipster
    tip_a_named: Tip  # named: shows the agreed name
    tip_b: Tip
    household_a: Household
    household_b: Household
    # Made by `with_posts_and_alerts`, in commune A: a draft, a post waiting for approval, a
    # published post and its publication, an alert that is out and one waiting.
    draft_a: Post | None = None
    waiting_a: Post | None = None
    published_a: Post | None = None
    publication_a: Publication | None = None
    alert_a: Alert | None = None
    waiting_alert_a: Alert | None = None

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


async def _staff(where: Unit, role: Role, name: str, username: str) -> Staff:
    return await Staff.create(full_name=name, role=role, unit=where, username=username)


async def world() -> World:
    province = await pagekit.unit("Tỉnh Đắk Lắk", UnitLevel.PROVINCE, code="66")
    d1 = await pagekit.unit("Huyện Ea Kar", UnitLevel.DISTRICT, parent=province, code="66-1")
    d2 = await pagekit.unit("Huyện Krông Pắc", UnitLevel.DISTRICT, parent=province, code="66-2")
    a = await pagekit.unit("Xã Ea Kar", parent=d1, code="24340")
    b = await pagekit.unit("Xã Ea Păl", parent=d1, code="24341")
    c = await pagekit.unit("Xã Ea Kuăng", parent=d2, code="24400")
    hamlet_a = await pagekit.unit("Thôn Ea Sinh", UnitLevel.HAMLET, parent=a)
    hamlet_b = await pagekit.unit("Buôn Ea Păl", UnitLevel.HAMLET, parent=b)
    bot = await pagekit.account(ChannelKind.TELEGRAM, "province bot")
    for unit, slug in ((a, "ca-a"), (b, "ca-b"), (c, "ca-c")):
        await pagekit.page(unit, slug, bot)
    officer_a = await _staff(a, Role.OFFICER, "Nguyễn Văn An", "officer.a")
    officer_b = await _staff(b, Role.OFFICER, "Trần Thị Bình", "officer.b")
    supervisor_d1 = await _staff(d1, Role.SUPERVISOR, "Lê Văn Cường", "supervisor.d1")
    supervisor_d2 = await _staff(d2, Role.SUPERVISOR, "Phạm Thị Dung", "supervisor.d2")
    tokens = {}
    for who, staff in (
        ("officer A", officer_a),
        ("officer B", officer_b),
        ("supervisor D1", supervisor_d1),
        ("supervisor D2", supervisor_d2),
    ):
        _, tokens[who] = await apitokens.create_token(pagekit.KEYRING, staff, f"{who} script")
    desk = Tips(pagekit.KEYRING)

    async def resident(user: str, name: str) -> Any:
        found, _ = await find_or_create_contact(
            pagekit.KEYRING, bot, ContactIdentity(user, name), locale="vi"
        )
        return found

    sentinel = await resident(SENTINEL_ID, SENTINEL_NAME)
    named = await resident(NAMED_ID, NAMED_NAME)
    tip_a = (await desk.submit(sentinel, TipInput("theft", "Xe đạp bị trộm ở Ea Sinh.", a.id))).tip
    tip_a_named = (
        await desk.submit(
            named, TipInput("drugs", "Có người bán ma túy gần chợ.", a.id, anonymous=False)
        )
    ).tip
    tip_b = (await desk.submit(named, TipInput("theft", "Mất trộm trâu ở Ea Păl.", b.id))).tip
    household_a = await Household.create(
        hamlet=hamlet_a, head_name="Y Bhim Niê", members_count=5, address="Thôn Ea Sinh"
    )
    household_b = await Household.create(
        hamlet=hamlet_b, head_name="H'Linh Êban", members_count=4, address="Buôn Ea Păl"
    )
    return World(
        province,
        d1,
        d2,
        a,
        b,
        c,
        hamlet_a,
        hamlet_b,
        officer_a,
        officer_b,
        supervisor_d1,
        supervisor_d2,
        tokens,
        tip_a,
        tip_a_named,
        tip_b,
        household_a,
        household_b,
    )


def ref(tip: Tip) -> str:
    return f"T-{tip.reference}"


async def with_posts_and_alerts(w: World, settings: Settings) -> World:
    """Commune A's posts and alerts, written by officer A through the services the API calls."""
    page = await Page.get(unit_id=w.a.id)
    await Page.filter(id=page.id).update(approval_categories=["procedure"])

    def draft(category: str) -> posts.PostInput:
        text = posts.Translation("vi", "Làm căn cước ở Ea Kar", "Thứ Bảy này, tại trụ sở.")
        return posts.PostInput(category=category, translations=[text])

    w.draft_a = await posts.create_post(w.officer_a, page.id, draft("announcement"), settings)
    waiting = await posts.create_post(w.officer_a, page.id, draft("procedure"), settings)
    w.waiting_a = await posts.submit_post(w.officer_a, waiting.id, settings)
    published = await posts.create_post(w.officer_a, page.id, draft("announcement"), settings)
    await posts.submit_post(w.officer_a, published.id, settings)
    [publication_id] = await posts.Publisher(settings, I18N).publish_due(
        utcnow() + timedelta(seconds=5)
    )
    w.published_a = await Post.get(id=published.id)
    w.publication_a = await Publication.get(id=publication_id)
    service = alerts.Alerts(settings, I18N)
    text = {"category": "missing_person", "headline": "Tìm người: ông Y Bhim ở Ea Sinh"}
    w.alert_a = await service.send(
        w.officer_a,
        (await alerts.create_alert(w.officer_a, alerts.AlertInput(**text, pages=[page.id]))).id,
    )
    # Waiting for a second person: it spans A and B, so only D1's supervisor sees it.
    both = alerts.AlertInput(**text, units=[w.d1.id])
    created = await alerts.create_alert(w.supervisor_d1, both)
    w.waiting_alert_a = await service.send(w.supervisor_d1, created.id)
    return w
