"""The scope matrix of the REST API (reliability T27): officer of commune A, officer of commune
B, supervisor of district D1 (A and B), supervisor of district D2 × every endpoint that takes an
id. In scope: 200 (201 for what is made) — or 403 where the role may see but not do it (an
officer approving, the issuer approving their own alert). Out of scope: 404 — the same answer
as for an object that does not exist — and the 404 body carries nothing of the other commune,
and nothing is written. Lists are filtered on the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.db.models import (
    Alert,
    AuditEvent,
    Delivery,
    Household,
    Post,
    Publication,
    Tip,
    TipEvent,
    TipMessage,
)
from communepol.settings import Settings
from tests.web.apikit import ClientFactory, World, ref, with_posts_and_alerts, world

WHO = ("officer A", "officer B", "supervisor D1", "supervisor D2")

# endpoint → (method, path of the object in commune A, JSON body), and who may see it: a set
# (200, or 201 for what is added, written or issued) or each one's answer.
Request = tuple[
    str, Callable[[World], str], dict[str, Any] | bytes | Callable[[World], dict[str, Any]] | None
]
CSV = "thon,chu_ho,so_nguoi,dia_chi\nEa Sinh,Ksor Y Bông,3,Thôn Ea Sinh\n".encode()
A_SIDE = {"officer A", "supervisor D1"}
ENDPOINTS: dict[str, tuple[Request, set[str] | dict[str, int]]] = {
    "coverage of A": (("GET", lambda w: f"/api/v1/units/{w.a.id}/coverage", None), A_SIDE),
    "tips of unit A": (("GET", lambda w: f"/api/v1/tips?unit={w.a.id}", None), A_SIDE),
    "tip of A": (("GET", lambda w: f"/api/v1/tips/{ref(w.tip_a)}", None), A_SIDE),
    "acknowledge A's tip": (
        ("POST", lambda w: f"/api/v1/tips/{ref(w.tip_a)}/acknowledge", {}),
        A_SIDE,
    ),
    "reply to A's tip": (
        ("POST", lambda w: f"/api/v1/tips/{ref(w.tip_a)}/reply", {"text": "Chúng tôi đang đến."}),
        A_SIDE,
    ),
    "resolve A's tip": (
        ("POST", lambda w: f"/api/v1/tips/{ref(w.tip_a)}/resolve", {"outcome": "Đã tìm thấy."}),
        A_SIDE,
    ),
    "households of A": (("GET", lambda w: f"/api/v1/communes/{w.a.id}/households", None), A_SIDE),
    "add a household to A's hamlet": (
        (
            "POST",
            lambda w: f"/api/v1/hamlets/{w.hamlet_a.id}/households",
            {"head_name": "Ksor Y Bông", "members_count": 3},
        ),
        A_SIDE,
    ),
    "import households into A": (
        ("POST", lambda w: f"/api/v1/communes/{w.a.id}/households/import", CSV),
        A_SIDE,
    ),
    "board of A": (("GET", lambda w: f"/api/v1/board?unit={w.a.id}", None), A_SIDE),
    "board of D1": (("GET", lambda w: f"/api/v1/board?unit={w.d1.id}", None), {"supervisor D1"}),
    "board of D2": (("GET", lambda w: f"/api/v1/board?unit={w.d2.id}", None), {"supervisor D2"}),
    "posts of A's page": (("GET", lambda w: f"/api/v1/posts?page={_page(w)}", None), A_SIDE),
    "post of A": (("GET", lambda w: f"/api/v1/posts/{_id(w.draft_a)}", None), A_SIDE),
    "write a post on A's page": (
        ("POST", lambda w: "/api/v1/posts", lambda w: _post_body(_page(w))),
        A_SIDE,
    ),
    "edit A's draft": (
        (
            "PATCH",
            lambda w: f"/api/v1/posts/{_id(w.draft_a)}",
            {"version": 1, "category": "health"},
        ),
        A_SIDE,
    ),
    "submit A's draft": (("POST", lambda w: f"/api/v1/posts/{_id(w.draft_a)}/submit", {}), A_SIDE),
    "approve A's waiting post": (
        ("POST", lambda w: f"/api/v1/posts/{_id(w.waiting_a)}/approve", {}),
        {"officer A": 403, "supervisor D1": 200},
    ),
    "reject A's waiting post": (
        ("POST", lambda w: f"/api/v1/posts/{_id(w.waiting_a)}/reject", {"reason": "Thiếu giờ."}),
        {"officer A": 403, "supervisor D1": 200},
    ),
    "stop A's publication": (
        (
            "POST",
            lambda w: f"/api/v1/posts/{_id(w.published_a)}/stop",
            lambda w: {"publication_id": _id(w.publication_a)},
        ),
        A_SIDE,
    ),
    "issue an alert to A's page": (
        (
            "POST",
            lambda w: "/api/v1/alerts",
            lambda w: {"category": "fraud_warning", "headline": "Lừa đảo", "pages": [_page(w)]},
        ),
        A_SIDE,
    ),
    "alert of A": (("GET", lambda w: f"/api/v1/alerts/{_id(w.alert_a)}", None), A_SIDE),
    "update A's alert": (
        ("POST", lambda w: f"/api/v1/alerts/{_id(w.alert_a)}/update", {"headline": "Mới"}),
        A_SIDE,
    ),
    "cancel A's alert": (
        ("POST", lambda w: f"/api/v1/alerts/{_id(w.alert_a)}/cancel", {"note": "Đã tìm thấy."}),
        A_SIDE,
    ),
    "approve the alert over D1 (by its issuer)": (
        ("POST", lambda w: f"/api/v1/alerts/{_id(w.waiting_alert_a)}/approve", {}),
        {"supervisor D1": 403},
    ),
    "reject the alert over D1 (by its issuer)": (
        ("POST", lambda w: f"/api/v1/alerts/{_id(w.waiting_alert_a)}/reject", {"reason": "Sai."}),
        {"supervisor D1": 403},
    ),
    "dashboard of A": (("GET", lambda w: f"/api/v1/units/{w.a.id}/dashboard", None), A_SIDE),
    "dashboard of D1": (
        ("GET", lambda w: f"/api/v1/units/{w.d1.id}/dashboard", None),
        {"supervisor D1"},
    ),
}
MADE = ("add", "write", "issue")


def _id(thing: Any) -> int:
    assert thing is not None  # made by with_posts_and_alerts
    return int(thing.id)


def _page(w: World) -> int:
    return int(w.draft_a.page_id)  # type: ignore[union-attr]


def _post_body(page_id: int) -> dict[str, Any]:
    text = {"locale": "vi", "title": "Thông báo", "body": "Họp dân tối thứ Sáu."}
    return {"page_id": page_id, "category": "announcement", "translations": [text]}


# What of commune A a refusal must not show.
A_SECRETS: Callable[[World], list[str]] = lambda w: [  # noqa: E731
    w.tip_a.reference,
    "Xe đạp",
    "Ea Sinh",
    "Xã Ea Kar",
    "Y Bhim",
]


@pytest.fixture
async def client(settings: Settings, aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings, run_workers=False))


async def _changes() -> tuple[Any, ...]:
    return (
        await Tip.all().order_by("id").values_list("id", "status", "outcome"),
        await TipMessage.all().count(),
        await TipEvent.all().count(),
        # A refused attempt on a tip is recorded (the breach watch counts them): that aside.
        await AuditEvent.exclude(action="access.refused").count(),
        await Household.all().order_by("id").values_list("id", "hamlet_id", "head_name"),
        await Post.all().order_by("id").values_list("id", "status", "version", "category"),
        await Alert.all().order_by("id").values_list("id", "status"),
        await Publication.all().order_by("id").values_list("id", "status"),
        await Delivery.all().count(),
    )


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_every_endpoint_with_an_id_is_200_in_scope_and_404_outside(
    client: TestClient[Any, Any], settings: Settings, endpoint: str, who: str
) -> None:
    w = await with_posts_and_alerts(await world(), settings)
    (method, path, body), allowed = ENDPOINTS[endpoint]
    if callable(body):
        body = body(w)
    before = await _changes()
    if isinstance(body, bytes):
        headers = w.auth(who) | {"Content-Type": "text/csv"}
        response = await client.request(method, path(w), data=body, headers=headers)
    else:
        response = await client.request(method, path(w), json=body, headers=w.auth(who))
    text = await response.text()
    if isinstance(allowed, set):
        allowed = {name: 201 if endpoint.startswith(MADE) else 200 for name in allowed}
    if allowed.get(who, 404) < 300:
        assert response.status == allowed[who], text
        return
    assert response.status == allowed.get(who, 404), text
    if response.status == 404:
        assert await response.json() == {"error": "not found"}
        for secret in A_SECRETS(w):
            assert secret not in text
    assert await _changes() == before  # nothing written, nobody told
    refused = await AuditEvent.filter(action="access.refused").values_list(
        "object_id", "source", "ip"
    )
    if "/api/v1/tips/" not in path(w):
        assert list(refused) == []
    else:  # the card's read knows the address; the actions' do not pass it on
        ip = "127.0.0.1" if method == "GET" else None
        assert list(refused) == [(str(w.tip_a.id), "api", ip)]


@pytest.mark.parametrize("who", WHO)
async def test_the_same_404_for_an_object_that_does_not_exist(
    client: TestClient[Any, Any], who: str
) -> None:
    w = await world()
    for path in (
        "/api/v1/tips/T-AAAAAA",
        "/api/v1/board?unit=999999",
        "/api/v1/tips?unit=999999",
        "/api/v1/posts/999999",
        "/api/v1/posts?page=999999",
        "/api/v1/alerts/999999",
        "/api/v1/units/999999/dashboard",
    ):
        response = await client.get(path, headers=w.auth(who))
        assert response.status == 404, path
        assert await response.json() == {"error": "not found"}


async def test_the_tip_list_is_filtered_on_the_server(client: TestClient[Any, Any]) -> None:
    w = await world()

    async def references(who: str, query: str = "") -> set[str]:
        response = await client.get(f"/api/v1/tips{query}", headers=w.auth(who))
        assert response.status == 200
        return {item["reference"] for item in (await response.json())["items"]}

    a_tips = {ref(w.tip_a), ref(w.tip_a_named)}
    assert await references("officer A") == a_tips
    assert await references("officer B") == {ref(w.tip_b)}
    assert await references("supervisor D1") == a_tips | {ref(w.tip_b)}
    assert await references("supervisor D2") == set()
    assert await references("supervisor D1", f"?unit={w.b.id}") == {ref(w.tip_b)}
    assert await references("officer A", "?category=drugs") == {ref(w.tip_a_named)}
    assert await references("officer A", "?status=resolved") == set()
    assert await references("officer A", "?status=open&overdue=false") == a_tips


async def test_pages_of_the_tip_list(client: TestClient[Any, Any]) -> None:
    w = await world()
    first = await (await client.get("/api/v1/tips?limit=2", headers=w.auth("supervisor D1"))).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    rest = await (
        await client.get("/api/v1/tips?limit=2&offset=2", headers=w.auth("supervisor D1"))
    ).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    seen = {item["reference"] for item in first["items"] + rest["items"]}
    assert seen == {ref(w.tip_a), ref(w.tip_a_named), ref(w.tip_b)}


async def test_the_board_of_a_district_lists_its_communes_only(
    client: TestClient[Any, Any],
) -> None:
    w = await world()
    response = await client.get(
        f"/api/v1/board?unit={w.d1.id}&days=7", headers=w.auth("supervisor D1")
    )
    board = await response.json()
    assert board["unit"]["id"] == w.d1.id
    rows = {row["unit"]["name"]: row for row in board["communes"]}
    assert set(rows) == {"Xã Ea Kar", "Xã Ea Păl"}
    assert rows["Xã Ea Kar"]["received"] == 2 and rows["Xã Ea Păl"]["received"] == 1
    own = await (await client.get("/api/v1/board", headers=w.auth("officer B"))).json()
    assert [row["unit"]["name"] for row in own["communes"]] == ["Xã Ea Păl"]


async def test_the_post_alert_and_approval_lists_are_filtered_on_the_server(
    client: TestClient[Any, Any], settings: Settings
) -> None:
    w = await with_posts_and_alerts(await world(), settings)

    async def ids(who: str, path: str, key: str = "items") -> set[int]:
        response = await client.get(path, headers=w.auth(who))
        assert response.status == 200
        return {item["id"] for item in (await response.json())[key]}

    a_posts = {_id(w.draft_a), _id(w.waiting_a), _id(w.published_a)}
    assert await ids("officer A", "/api/v1/posts") == a_posts
    assert await ids("supervisor D1", "/api/v1/posts") == a_posts
    assert await ids("officer B", "/api/v1/posts") == set()
    assert await ids("supervisor D2", "/api/v1/posts") == set()
    assert await ids("officer A", "/api/v1/posts?status=draft") == {_id(w.draft_a)}
    assert await ids("officer A", "/api/v1/alerts") == {_id(w.alert_a)}
    assert await ids("supervisor D1", "/api/v1/alerts") == {
        _id(w.alert_a),
        _id(w.waiting_alert_a),
    }
    assert await ids("officer B", "/api/v1/alerts") == set()
    assert await ids("supervisor D2", "/api/v1/alerts") == set()
    # The waiting post is for D1's supervisor; the alert over D1 is theirs, so not for them.
    assert await ids("supervisor D1", "/api/v1/approvals", "posts") == {_id(w.waiting_a)}
    assert await ids("supervisor D1", "/api/v1/approvals", "alerts") == set()
    assert await ids("supervisor D2", "/api/v1/approvals", "posts") == set()
    first = await (await client.get("/api/v1/posts?limit=2", headers=w.auth("officer A"))).json()
    rest = await (
        await client.get("/api/v1/posts?limit=2&offset=2", headers=w.auth("officer A"))
    ).json()
    assert (len(first["items"]), first["next_offset"], rest["next_offset"]) == (2, 2, None)
    assert {item["id"] for item in first["items"] + rest["items"]} == a_posts
