"""``/coverage`` in the officer's bot: the figures per hamlet and the households to visit, for
the officer's own commune; another commune's coverage is "not found"."""

from __future__ import annotations

from tortoise.context import TortoiseContext

from communepol.db.models import Follow, FollowStatus, Household
from communepol.services.units import add_hamlet
from communepol.settings import Settings
from tests import pagekit
from tests.bots.test_officer_tips import NOT_FOUND, district, linked


async def test_coverage_shows_the_figures_and_whom_to_visit(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    hamlet = await add_hamlet(d.ea_kar, "Ea Sinh", kind="Buôn")
    own = await pagekit.contact(d.bot, "own-1")
    await Follow.create(page=d.page, contact=own, status=FollowStatus.ACTIVE)
    await Household.create(hamlet=hamlet, head_name="Y Kông Êban", own_contact=own)
    await Household.create(hamlet=hamlet, head_name="H'Luyến Kbuôr", address="Nhà 5")
    an = await linked(d, d.an, settings, "tg-an")

    [shown] = await an.send("/coverage")
    assert shown.text.startswith(
        "Xã Ea Kar: 2 households · 1 own account · 0 shared account · 1 not reached"
    )
    assert "• Buôn Ea Sinh: 2 households · 1 own account" in shown.text
    assert shown.text.endswith("Not reached (for a home visit):\n• H'Luyến Kbuôr, Nhà 5")

    [refused] = await an.send("/coverage ea pal")
    assert refused.text == NOT_FOUND
