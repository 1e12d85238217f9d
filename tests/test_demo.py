"""The demo a newcomer sees: built from nothing, it tells the product's story, and every URL
it prints answers."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from vietnam_provinces import Ward

from communepol.app import create_app
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    Contact,
    DutyShift,
    Follow,
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    Post,
    PostStatus,
    Staff,
    Tip,
    TipRoute,
)
from communepol.db.orm import open_database
from communepol.services import sla
from communepol.services.demo import build_demo, demo_database_url
from communepol.settings import Settings
from tests.conftest import TEST_SECRET_KEY

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


async def test_demo_builds_and_every_printed_url_answers(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    settings = Settings(
        secret_key=TEST_SECRET_KEY,
        database_url=demo_database_url(tmp_path),
        public_base_url="http://127.0.0.1:8080",
    )
    report = await build_demo(settings)
    dak_lak_wards = sum(1 for w in Ward.iter_all() if int(w.province_code) == 66)
    assert report.communes_loaded == dak_lak_wards

    async with open_database(settings.database_url):
        assert await Staff.filter(role="supervisor", username="giamsat").count() == 1
        assert await Staff.filter(role="officer").count() == 4
        assert await DutyShift.filter(ended_at__isnull=True).count() == 3
        assert await Household.all().count() == 8
        assert await HouseholdGroupMember.filter(consent_confirmed_at__isnull=False).count() == 5
        assert await Follow.all().count() == 22  # 21 residents and the shared account
        assert await HouseholdGroup.filter(representative_id__isnull=True).count() == 1
        scheduled = await Post.filter(status=PostStatus.SCHEDULED).order_by("next_run_at")
        assert len(scheduled) == 2
        assert scheduled[0].next_run_at is not None and report.scheduled_at is not None
        assert scheduled[0].next_run_at == report.scheduled_at
        # Identities are sealed: no stored contact carries a demo platform id in clear.
        for contact in await Contact.all():
            assert "demo-resident" not in contact.identity_sealed
            assert "demo-resident" not in contact.identity_hash
        assert await ChannelAccount.all().count() == 1
        # The tips: the three rumour forwards are one cluster, the fraud also reached the
        # cyber desk, the fight was answered, and the unanswered one escalates at start.
        assert await Tip.all().count() == 6
        rumours = await Tip.filter(category="rumour_check").values_list(
            "rumour_cluster_id", flat=True
        )
        assert len(rumours) == 3 and len(set(rumours)) == 1
        assert await TipRoute.filter(tip__category="fraud").count() == 1
        assert await Tip.filter(category="fight_weapons", status="acknowledged").count() == 1
        assert await sla.escalate_due(Keyring(TEST_SECRET_KEY)) == 1
        assert len(report.tip_references) == 2

    text = "\n".join(report.lines())
    assert "giamsat" in text and report.supervisor_password in text
    assert all(code in text for _name, _unit, code in report.officer_codes)
    assert all(reference in text for reference in report.tip_references)

    client = await aiohttp_client(create_app(settings))
    paths = re.findall(r"http://127\.0\.0\.1:8080(/\S*)", text)
    assert "/" in paths and "/p/ca-xa-cu-mgar" in paths and "/readyz" in paths
    for path in paths:
        response = await client.get(path)
        assert response.status == 200, path

    page = await (await client.get("/p/ca-xa-ea-kar")).text()
    assert "giả danh công an" in page  # the published fraud warning, in Vietnamese
    assert "Cảnh báo lừa đảo" in page  # its category, translated
    english = await (await client.get("/p/ca-xa-ea-kar?lang=en")).text()
    assert "posing as police" in english


async def test_demo_rebuilds_from_scratch(tmp_path: Path) -> None:
    settings = Settings(secret_key=TEST_SECRET_KEY, database_url=demo_database_url(tmp_path))
    first = await build_demo(settings)
    second = await build_demo(settings)
    assert first.supervisor_password != second.supervisor_password
    async with open_database(settings.database_url):
        assert await Staff.filter(username="giamsat").count() == 1
