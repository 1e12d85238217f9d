"""The admin web tests' common fixtures: a controlled clock that every service module reading
the time sees, the application without workers (a ticker or a dispatcher on the real clock
would act behind the test's back; the tests read the outbox rows as planned) and without a
shared cookie jar (each `adminkit.Browser` keeps its own cookies, so several people can use
one server), and the two-district scene of `adminkit.scene`.

A test module that needs something else defines its own fixture of the same name (the REST
API's tests define their own ``client``)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.services import (
    alerts,
    apitokens,
    breachwatch,
    duty,
    overview,
    postboard,
    posts,
    rumours,
    sla,
    tipdesk,
    tips,
)
from communepol.services import staff as staff_service
from communepol.settings import Settings
from tests.web.adminkit import ClientFactory, Clock, Scene, install_clock, scene

# The modules whose `utcnow` the clock replaces (the session service's always).
CLOCKED = (
    alerts,
    apitokens,
    breachwatch,
    duty,
    overview,
    postboard,
    posts,
    rumours,
    sla,
    staff_service,
    tipdesk,
    tips,
)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch, *CLOCKED)


@pytest.fixture
async def client(
    settings: Settings, aiohttp_client: ClientFactory, clock: Clock
) -> TestClient[Any, Any]:
    return await aiohttp_client(
        create_app(settings, run_workers=False), cookie_jar=DummyCookieJar()
    )


@pytest.fixture
async def people(client: TestClient[Any, Any]) -> Scene:
    return await scene()
