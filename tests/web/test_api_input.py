"""What a client sends is checked strictly (reliability T29): an extra field — ``status``,
``unit_id``, ``role``, ``created_at`` — is 422 naming the field and nothing is written;
malformed JSON, wrong types, huge numbers, unknown query parameters, a wrong media type and an
oversized body are 4xx, never 500."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import AuditEvent, Delivery, Tip, TipEvent, TipMessage
from communepol.settings import Settings
from tests.web.apikit import ClientFactory, ref, world

EXTRA_FIELDS = {
    "status": "resolved",
    "unit_id": 1,
    "role": "admin",
    "created_at": "2020-01-01T00:00:00Z",
}


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def _state() -> tuple[Any, ...]:
    return (
        await Tip.all()
        .order_by("id")
        .values_list("id", "status", "unit_id", "outcome", "created_at"),
        await TipMessage.all().count(),
        await TipEvent.all().count(),
        await Delivery.all().count(),
        await AuditEvent.filter(object_type="tip").count(),
    )


@pytest.mark.parametrize("extra", list(EXTRA_FIELDS))
@pytest.mark.parametrize(
    ("verb", "body"),
    [
        ("acknowledge", {}),
        ("reply", {"text": "Chúng tôi đã nhận tin."}),
        ("resolve", {"outcome": "Đã xử lý."}),
    ],
)
async def test_an_extra_field_is_422_and_nothing_is_written(
    client: TestClient[Any, Any], verb: str, body: dict[str, Any], extra: str
) -> None:
    w = await world()
    before = await _state()
    response = await client.post(
        f"/api/v1/tips/{ref(w.tip_a)}/{verb}",
        json=body | {extra: EXTRA_FIELDS[extra]},
        headers=w.auth("officer A"),
    )
    assert response.status == 422
    assert await response.json() == {"error": f"unknown field {extra}", "field": extra}
    assert await _state() == before


@pytest.mark.parametrize(
    ("verb", "raw", "status"),
    [
        ("reply", b"{", 400),
        ("reply", b'{"text": "a",}', 400),
        ("reply", b"\xff\xfe", 400),
        ("reply", b"[]", 422),
        ("reply", b'"text"', 422),
        ("reply", b"null", 422),
        ("reply", b'{"text": 5}', 422),
        ("reply", b'{"text": ["a"]}', 422),
        ("reply", b'{"text": null}', 422),
        ("reply", b'{"text": ""}', 422),
        ("reply", b'{"text": "   "}', 422),
        ("reply", b"{}", 422),
        ("reply", b'{"text": "' + b"x" * 4001 + b'"}', 422),
        ("resolve", b'{"outcome": 1e400}', 400),
        ("resolve", b'{"outcome": 123456789012345678901234567890}', 422),
        ("resolve", b'{"outcome": true}', 422),
        ("acknowledge", b'{"x": 1}', 422),
        ("acknowledge", b"[1]", 422),
    ],
)
async def test_malformed_bodies_and_wrong_types_are_4xx_and_change_nothing(
    client: TestClient[Any, Any], verb: str, raw: bytes, status: int
) -> None:
    w = await world()
    before = await _state()
    response = await client.post(
        f"/api/v1/tips/{ref(w.tip_a)}/{verb}",
        data=raw,
        headers=w.auth("officer A") | {"Content-Type": "application/json"},
    )
    assert response.status == status, await response.text()
    assert "error" in await response.json()
    assert await _state() == before


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/tips?limit=0", 422),
        ("/api/v1/tips?limit=101", 422),
        ("/api/v1/tips?limit=abc", 422),
        ("/api/v1/tips?limit=99999999999999999999999999", 422),
        ("/api/v1/tips?offset=-1", 422),
        ("/api/v1/tips?unit=99999999999999999999", 422),
        ("/api/v1/tips?unit=0", 422),
        ("/api/v1/tips?status=closed", 422),
        ("/api/v1/tips?overdue=yes", 422),
        ("/api/v1/tips?limit=1&limit=2", 422),
        ("/api/v1/tips?unit_id=1", 422),
        ("/api/v1/board?days=0", 422),
        ("/api/v1/board?days=100000000000000000000", 422),
        ("/api/v1/me?role=admin", 422),
        ("/api/v1/units/99999999999999999999/coverage", 404),
        ("/api/v1/units/-1/coverage", 404),
        ("/api/v1/units/abc/coverage", 404),
        ("/api/v1/tips/%00", 404),
        ("/api/v1/tips/T-" + "A" * 300, 404),
        ("/api/v1/nothing-here", 404),
    ],
)
async def test_bad_query_strings_and_paths_are_4xx(
    client: TestClient[Any, Any], path: str, status: int
) -> None:
    w = await world()
    response = await client.get(path, headers=w.auth("supervisor D1"))
    assert response.status == status, await response.text()
    assert "error" in await response.json()


async def test_wrong_media_type_wrong_method_and_oversized_body(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    before = await _state()
    path = f"/api/v1/tips/{ref(w.tip_a)}/reply"
    as_text = await client.post(
        path, data=b'{"text": "a"}', headers=w.auth("officer A") | {"Content-Type": "text/plain"}
    )
    assert as_text.status == 415
    wrong_method = await client.get(path, headers=w.auth("officer A"))
    assert wrong_method.status == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert "error" in await wrong_method.json()
    huge = b'{"text": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    too_big = await client.post(
        path, data=huge, headers=w.auth("officer A") | {"Content-Type": "application/json"}
    )
    assert too_big.status == 413
    assert "error" in await too_big.json()
    assert await _state() == before
