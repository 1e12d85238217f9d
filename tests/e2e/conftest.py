"""What the end-to-end tests share: the app wired to the three fake platform servers, with one
channel account of each kind (Telegram, Zalo OA, Zalo Bot, web chat)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from communepol.app import create_app
from communepol.crypto import Keyring
from communepol.db.models import ChannelKind
from communepol.services.channels import create_channel_account
from communepol.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.telegram import FakeTelegram
from tests.fakes.zalo_bot import FakeZaloBot
from tests.fakes.zalo_oa import FakeZaloOA

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
KEYRING = Keyring(TEST_SECRET_KEY)
TG_SECRET = "tg-webhook-secret_0123456789"
ZB_SECRET = "zb-webhook-secret-0123456789"


@dataclass
class Platforms:
    client: TestClient[Any, Any]
    telegram: FakeTelegram
    zalo_oa: FakeZaloOA
    zalo_bot: FakeZaloBot
    accounts: dict[str, int]


@pytest.fixture
async def platforms(settings: Settings, aiohttp_client: ClientFactory) -> AsyncIterator[Platforms]:
    async with FakeTelegram() as telegram, FakeZaloOA() as zalo_oa, FakeZaloBot() as zalo_bot:
        configured = Settings(
            secret_key=settings.secret_key,
            database_url=settings.database_url,
            data_dir=settings.data_dir,
            public_base_url="http://127.0.0.1:8080",
            telegram_api_base=telegram.base_url,
            zalo_oa_api_base=zalo_oa.base_url,
            zalo_oauth_api_base=zalo_oa.base_url,
            zalo_bot_api_base=zalo_bot.base_url,
        )
        client = await aiohttp_client(create_app(configured))
        accounts = {
            "telegram": await _account(
                ChannelKind.TELEGRAM, {"token": "123456:TEST", "webhook_secret": TG_SECRET}
            ),
            "zalo-oa": await _account(ChannelKind.ZALO_OA, zalo_oa.account_secrets()),
            "zalo-bot": await _account(
                ChannelKind.ZALO_BOT, {"token": "777:botsecret", "webhook_secret": ZB_SECRET}
            ),
            "webchat": await _account(ChannelKind.WEBCHAT, None),
        }
        yield Platforms(client, telegram, zalo_oa, zalo_bot, accounts)


async def _account(kind: ChannelKind, secrets: dict[str, str] | None) -> int:
    account = await create_channel_account(KEYRING, kind=kind, name=kind.value, secrets=secrets)
    return account.id


async def eventually(check: Callable[[], Any], within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)
