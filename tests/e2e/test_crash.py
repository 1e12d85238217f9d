"""Crash and rate-limit behaviour of the real service process against the fake Telegram:

- kill -9 in the middle of a 10,000-recipient broadcast, restart: every recipient got the
  message at least once, duplicates no more than one claimed batch (the sends in flight);
- a platform answering 429 retry_after=2: nothing more goes through that account for 2 s,
  and every message still arrives.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from tortoise.context import TortoiseContext

from communepol.crypto import Keyring
from communepol.db.models import ChannelKind, Contact, Delivery, DeliveryKind, DeliveryStatus
from communepol.ports import OutboundMessage
from communepol.services import outbox
from communepol.services.channels import create_channel_account
from communepol.services.contacts import ContactIdentity, seal_identity
from communepol.services.outbox import Planned
from communepol.workers.dispatcher import DispatchConfig
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeTelegram

KEYRING = Keyring(TEST_SECRET_KEY)
TOKEN = "123456:CRASHTEST"
RECIPIENTS = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(database_url: str, api_base: str, workdir: Path, rate: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "COMMUNEPOL_DATABASE_URL": database_url,
        "COMMUNEPOL_SECRET_KEY": TEST_SECRET_KEY,
        "COMMUNEPOL_TELEGRAM_API_BASE": api_base,
        "COMMUNEPOL_TELEGRAM_SEND_RATE": str(rate),
        "COMMUNEPOL_PORT": str(_free_port()),
        "COMMUNEPOL_DATA_DIR": str(workdir / "data"),
        "COMMUNEPOL_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "communepol", "serve"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def _broadcast(n: int) -> int:
    account = await create_channel_account(
        KEYRING, kind=ChannelKind.TELEGRAM, name="crash", secrets={"token": TOKEN}
    )
    contacts = [
        Contact(
            channel_account_id=account.id,
            identity_hash=KEYRING.identity_hash(account.id, str(100_000 + i)),
            identity_sealed=seal_identity(KEYRING, ContactIdentity(str(100_000 + i))),
        )
        for i in range(n)
    ]
    await Contact.bulk_create(contacts, batch_size=1000)
    ids = await Contact.filter(channel_account_id=account.id).values_list("id", flat=True)
    await outbox.enqueue_many(
        Planned(
            channel_account_id=account.id,
            message=OutboundMessage(text="Cảnh báo: lừa đảo qua điện thoại đang gia tăng."),
            kind=DeliveryKind.BROADCAST,
            dedup_key=f"crash:{contact_id}",
            contact_id=int(contact_id),  # type: ignore[call-overload]
        )
        for contact_id in ids
    )
    return account.id


async def _wait(check: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return (process.stderr.read() if process.stderr else b"").decode(errors="replace")


async def test_kill_9_mid_broadcast_then_restart_delivers_everyone(
    db: TortoiseContext, database_url: str, tmp_path: Path
) -> None:
    await _broadcast(RECIPIENTS)
    async with FakeTelegram() as fake:
        first = _serve(database_url, fake.base_url, tmp_path, rate=1000)
        try:

            async def a_third_sent() -> bool:
                assert first.poll() is None, _stop(first)
                return len(fake.delivered) >= RECIPIENTS // 3

            await _wait(a_third_sent, 120, "the first process to send a third")
            first.send_signal(signal.SIGKILL)
            first.wait()
            before_kill = len(fake.delivered)
            assert before_kill < RECIPIENTS  # killed in the middle, not after the end

            second = _serve(database_url, fake.base_url, tmp_path, rate=1000)
            try:

                async def all_sent() -> bool:
                    assert second.poll() is None, _stop(second)
                    return await Delivery.filter(status=DeliveryStatus.SENT).count() == RECIPIENTS

                await _wait(all_sent, 180, "the restarted process to finish the broadcast")
            finally:
                log = _stop(second)
        finally:
            if first.poll() is None:
                first.kill()
    per_chat = Counter(str(call.params["chat_id"]) for call in fake.delivered)
    assert len(per_chat) == RECIPIENTS, "every recipient got the message at least once"
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= DispatchConfig().batch, (duplicates, log[-2000:])
    assert not await Delivery.filter(status=DeliveryStatus.SENDING).exists()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_429_retry_after_holds_the_account_and_loses_nothing(
    db: TortoiseContext, database_url: str, tmp_path: Path
) -> None:
    account_id = await _broadcast(60)
    async with FakeTelegram() as fake:
        fake.fail_next(Fault.rate_limited(2))
        process = _serve(database_url, fake.base_url, tmp_path, rate=30)
        try:

            async def all_sent() -> bool:
                assert process.poll() is None, _stop(process)
                return await Delivery.filter(status=DeliveryStatus.SENT).count() == 60

            await _wait(all_sent, 60, "every message to arrive")
        finally:
            _stop(process)
    sends = fake.calls_to("sendMessage")
    limited_at = sends[0].at
    # The fake notes when a request reaches it. Requests sent before the 429 came back can
    # reach it just after the limited one — on a loaded machine several at once, queued
    # while its loop waited. Anything sent after the 429 reached the dispatcher comes 2 s
    # later: nothing may arrive between the first moments and the end of the 2 s.
    after = [call.at - limited_at for call in sends[1:]]
    assert not [t for t in after if 0.5 <= t < 2.0], after
    assert any(t >= 2.0 for t in after)  # and the account went on once the 2 s were over
    assert len(sends) >= 61
    assert len({call.params["chat_id"] for call in fake.delivered}) == 60
    assert account_id
