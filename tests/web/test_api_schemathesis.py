"""schemathesis against the running API: the schema is loaded from the app's own
/api/v1/openapi.json over HTTP, and every operation gets generated requests, authenticated with
an officer's token — once with generated path parameters (mostly objects that do not exist or
are out of scope) and once aimed at real objects of the officer's commune, so bodies and query
strings reach the services. Each response must not be a server error and must match the
document's schema for its status.

The server runs in the test's event loop; schemathesis (synchronous, through requests) runs in
a worker thread meanwhile. Examples are bounded (`EXAMPLES` per operation and run) and
derandomized (the same on every run), so the test takes seconds, is reproducible, and runs on
both engines.
"""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from communepol.app import create_app
from communepol.settings import Settings
from communepol.web.api import openapi
from tests.web.apikit import World, with_posts_and_alerts, world

EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]


def _aimed(w: World, path: str) -> dict[str, Any]:
    """Path parameters naming real objects in officer A's scope."""
    if "{reference}" in path:
        return {"reference": f"T-{w.tip_a_named.reference}"}
    if path.startswith("/hamlets/"):
        return {"id": w.hamlet_a.id}
    if path.startswith("/posts/") and w.draft_a is not None:
        return {"id": w.draft_a.id}
    if path.startswith("/alerts/") and w.alert_a is not None:
        return {"id": w.alert_a.id}
    if "{id}" in path:
        return {"id": w.a.id}
    return {}


def _fuzz(base: str, w: World) -> list[str]:
    """Run every operation; the labels of the operations run."""
    schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {w.tokens['officer A']}"}
    ran = []
    for result in schema.get_all_operations():
        operation = result.ok()
        runs = [
            (GenerationMode.POSITIVE, {}),
            (GenerationMode.POSITIVE, _aimed(w, operation.path)),
            (GenerationMode.NEGATIVE, _aimed(w, operation.path)),
        ]
        for mode, fixed in runs:
            strategy = operation.as_strategy(mode, headers=headers, path_parameters=fixed or None)

            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                # The same examples on every run: a failure here is reproducible, never flaky.
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=f"{base}/api/v1", checks=CHECKS)

            try:
                check()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (no parameter, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
        ran.append(operation.label)
    return ran


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    settings: Settings, aiohttp_server: Any
) -> None:
    server: TestServer = await aiohttp_server(create_app(settings, run_workers=False))
    w = await with_posts_and_alerts(await world(), settings)
    base = str(server.make_url("")).rstrip("/")
    ran = await asyncio.to_thread(_fuzz, base, w)
    # Every operation of the document ran (schemathesis leaves out the document's own route).
    documented = {
        f"{method.upper()} {path}"
        for path, item in openapi.PATHS.items()
        for method in item
        if path != "/openapi.json"
    }
    assert set(ran) == documented
