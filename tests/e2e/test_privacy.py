"""Platform identities and message text never reach the logs or the database in clear: a
resident whose id, name and message carry sentinels talks to the bot on Telegram and Zalo OA
— with a platform failure and a malformed delivery along the way, so the warning paths log
too — and neither the log (at DEBUG) nor any stored row shows a sentinel."""

from __future__ import annotations

import logging

import pytest
from tortoise import connections

from communepol.db.models import Contact, Delivery, DeliveryStatus, InboundEvent
from tests.e2e.conftest import TG_SECRET, Platforms, eventually
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeTelegram

TG_ID = 987654321012
ZALO_ID = "5550001112223334445"
NAME = "SENTINELNAME"
TEXT = "SENTINELTEXT số tài khoản 0123456789"


async def _dump_text() -> str:
    """Every row of every table, as text (what a stolen database would show)."""
    db = connections.get(Contact._meta.default_connection or "default")
    dialect = db.capabilities.dialect
    if dialect == "sqlite":
        tables = [
            r["name"]
            for r in await db.execute_query_dict(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        ]
    else:
        tables = [
            r["tablename"]
            for r in await db.execute_query_dict(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
    rows = []
    for table in tables:
        rows += [repr(row) for row in await db.execute_query_dict(f'SELECT * FROM "{table}"')]
    return "\n".join(rows)


async def test_no_identity_or_message_text_in_logs_or_rows(
    platforms: Platforms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = platforms.client
    platforms.telegram.fail_next(Fault.server_error(502))  # the first reply fails once
    update = FakeTelegram.text_update(1, TG_ID, TEXT, first_name=NAME)
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    url = f"/webhooks/telegram/{platforms.accounts['telegram']}"
    assert (await client.post(url, json=update, headers=headers)).status == 200
    broken = b'{"update_id": 2, "message": {"chat": {"id": ' + str(TG_ID).encode() + b"}}"
    assert (await client.post(url, data=broken, headers=headers)).status == 400
    fake_oa = platforms.zalo_oa
    body, oa_headers = fake_oa.signed(fake_oa.text_event(ZALO_ID, TEXT, msg_id="s1"))
    oa_url = f"/webhooks/zalo-oa/{platforms.accounts['zalo-oa']}"
    assert (await client.post(oa_url, data=body, headers=oa_headers)).status == 200

    async def answered() -> bool:
        return bool(platforms.telegram.sent_texts(TG_ID)) and bool(fake_oa.sent_texts(ZALO_ID))

    await eventually(answered, within=20)
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 2
    assert await InboundEvent.all().count() == 2

    logged = caplog.text
    dumped = await _dump_text()
    assert "Which language do you prefer?" in dumped  # the dump does reach the outbox rows
    for sentinel in (str(TG_ID), ZALO_ID, NAME, "SENTINELTEXT"):
        assert sentinel not in logged, f"{sentinel} in the log"
        assert sentinel not in dumped, f"{sentinel} in the database"
