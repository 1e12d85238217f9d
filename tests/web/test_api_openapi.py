"""The OpenAPI document at /api/v1/openapi.json is honest: served without a token, a valid
OpenAPI 3.1 document, every /api/v1 route of the app is in it and it names no route the app
lacks, every operation but the document itself needs the bearer token, and every request body
refuses unknown fields."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.settings import Settings
from communepol.web.api import openapi
from tests.web.apikit import ClientFactory


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings, run_workers=False)


def _routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(openapi.PREFIX):
            found.add((route.method.lower(), path.removeprefix(openapi.PREFIX)))
    return found


def test_every_route_is_in_the_document_and_the_other_way_round(app: web.Application) -> None:
    documented = {(method, path) for path, item in openapi.PATHS.items() for method in item}
    assert _routes(app) == documented


def test_security_and_strict_bodies() -> None:
    doc = openapi.document()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal API token, cpol_…",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert operation.get("security") == ([] if path == "/openapi.json" else None)
            if path != "/openapi.json":
                assert "401" in operation["responses"], (method, path)
            body = operation.get("requestBody")
            if body and "application/json" in body["content"]:
                schema = body["content"]["application/json"]["schema"]
                assert schema["additionalProperties"] is False, (method, path)


async def test_the_document_is_served_without_a_token_and_validates(
    app: web.Application, aiohttp_client: ClientFactory
) -> None:
    # schemathesis's validators (dev dependencies): the OpenAPI 3.1 meta-schema, and JSON
    # Schema 2020-12 for each schema of the document.
    import jsonschema_rs
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    client: TestClient[Any, Any] = await aiohttp_client(app)
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc == openapi.document()
    OPENAPI_31_VALIDATOR.validate(doc)
    for schema in doc["components"]["schemas"].values():
        jsonschema_rs.meta.validate(schema)
    broken = openapi.document()
    broken["paths"]["/me"]["get"]["responses"] = {"200": {}}  # a response needs a description
    assert not OPENAPI_31_VALIDATOR.is_valid(broken)
