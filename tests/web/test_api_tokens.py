"""Personal API tokens at the door of the REST API: a created token works; a missing,
malformed, unknown, revoked or expired token, or one of a deactivated staff member, is 401 with
``WWW-Authenticate: Bearer`` at once; the token is never stored in clear; the list never shows
it; ``last_used_at`` is written at most once a minute."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.clock import utcnow
from communepol.db.models import ApiToken, AuditEvent, Staff
from communepol.services import apitokens
from communepol.settings import Settings
from tests import pagekit
from tests.web.apikit import ClientFactory, world


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def _assert_refused(client: TestClient[Any, Any], headers: dict[str, str]) -> None:
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the security headers too
    assert await response.json() == {"error": "a valid API token is needed"}


async def test_a_created_token_works_and_names_its_owner(client: TestClient[Any, Any]) -> None:
    w = await world()
    response = await client.get("/api/v1/me", headers=w.auth("officer A"))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.json() == {
        "id": w.officer_a.id,
        "full_name": "Nguyễn Văn An",
        "role": "officer",
        "unit": {"id": w.a.id, "name": "Xã Ea Kar", "level": "commune"},
    }


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-token",
        "Bearer cpol_short",
        "Bearer cpol_" + "A" * 43,  # the right shape, but nobody's
        "Token cpol_" + "A" * 43,
    ],
)
async def test_missing_malformed_and_unknown_tokens_are_401(
    client: TestClient[Any, Any], header: str | None
) -> None:
    await world()
    await _assert_refused(client, {} if header is None else {"Authorization": header})


async def test_a_revoked_token_is_401_at_once(client: TestClient[Any, Any]) -> None:
    w = await world()
    assert (await client.get("/api/v1/me", headers=w.auth("officer A"))).status == 200
    [row] = await ApiToken.filter(staff_id=w.officer_a.id)
    await apitokens.revoke_token(row.id, actor=w.officer_a, source="api")
    await _assert_refused(client, w.auth("officer A"))
    assert await AuditEvent.filter(action="api_token.revoked", object_id=str(row.id)).exists()


async def test_an_expired_token_is_401(client: TestClient[Any, Any]) -> None:
    w = await world()
    await ApiToken.filter(staff_id=w.officer_a.id).update(
        expires_at=utcnow() - timedelta(seconds=1)
    )
    await _assert_refused(client, w.auth("officer A"))


async def test_a_deactivated_staff_members_token_is_401_at_once(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    assert (await client.get("/api/v1/tips", headers=w.auth("officer A"))).status == 200
    await Staff.filter(id=w.officer_a.id).update(active=False)
    await _assert_refused(client, w.auth("officer A"))
    assert (await client.get("/api/v1/tips", headers=w.auth("officer A"))).status == 401


async def test_the_token_is_never_stored_in_clear_and_never_listed(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    token = w.tokens["officer A"]
    rows = await ApiToken.all().values()
    assert all(token not in repr(row) for row in rows)
    [mine] = [row for row in rows if row["staff_id"] == w.officer_a.id]
    assert mine["token_hash"] == apitokens.token_hash(pagekit.KEYRING, token)
    assert mine["token_hash"] != token
    audit = await AuditEvent.all().values()
    assert token not in repr(audit)
    listed = await apitokens.list_tokens(w.officer_a)
    assert [t.name for t in listed] == ["officer A script"]
    assert token not in repr([vars(t) for t in listed])


async def test_last_used_is_written_at_most_once_a_minute(client: TestClient[Any, Any]) -> None:
    w = await world()
    [row] = await ApiToken.filter(staff_id=w.officer_b.id)
    assert row.last_used_at is None
    assert (await client.get("/api/v1/me", headers=w.auth("officer B"))).status == 200
    await row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    assert (await client.get("/api/v1/me", headers=w.auth("officer B"))).status == 200
    await row.refresh_from_db()
    assert row.last_used_at == first  # within the minute: not written again
    await ApiToken.filter(id=row.id).update(last_used_at=first - timedelta(minutes=2))
    assert (await client.get("/api/v1/me", headers=w.auth("officer B"))).status == 200
    await row.refresh_from_db()
    assert row.last_used_at is not None and row.last_used_at > first - timedelta(minutes=1)
