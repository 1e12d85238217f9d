"""Benchmark the outbox dispatcher against the fake Telegram Bot API server.

Run ``.venv/bin/python bench/dispatch.py`` (SQLite), add ``--postgres
postgres://postgres@127.0.0.1:5432/postgres`` to measure a temporary PostgreSQL database too
(dropped afterwards), ``--quick`` for a smoke run of a few seconds.

The fake (``python -m tests.fakes.telegram``) runs in its own process, pinned to the second
core; the sender runs in this one, pinned to the first: a real `AccountSender` with the real
`TelegramChannel` (aiogram) on a fresh migrated database, sending a broadcast seeded to
distinct contacts, each its own chat.

(a) Limits lifted (``Limits(per_second=None, chat_interval=None)``), ``--deliveries`` rows:
sends per second from the first send's start to the last one's answer, the slowest full second
in between, and the time until every row is recorded ``sent``. The fake's own count must equal
the deliveries, one per chat (no duplicates). Target: at least 2,000 sends per second.

(b) The fake answers 429 above 30 per second (``--rate-cap 30``) and the sender keeps the
default Telegram limits (30/s) for ``--seconds``: achieved rate = sends the fake accepted /
time from the first send to the stop, its distance from 30/s, and the fake's 429 count.
Target: within 2 % of the cap and no 429. The achieved rate counts both fence posts (a send at
0 s and one at the stop), +1 send: +0.7 % over a 5-second smoke run, +0.06 % over 60 s; the
rate from the gaps between sends ((n - 1) / (last start - first start)) has no such bias.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from benchlib import (
    KEYRING,
    TELEGRAM_TOKEN,
    Helper,
    RunFailed,
    cores,
    cpu_seconds,
    machine_line,
    number,
    pin,
    postgres_version,
    telegram_account,
    temporary_databases,
)

from bots.telegram.adapter import TelegramChannel
from communepol.db.models import ChannelKind, Contact, Delivery, DeliveryKind, DeliveryStatus
from communepol.db.orm import open_database
from communepol.ports import OutboundMessage, Recipient, SendPurpose, SendResult
from communepol.services import outbox
from communepol.services.contacts import ContactIdentity, seal_identity
from communepol.services.outbox import Planned
from communepol.workers.dispatcher import AccountSender, DispatchConfig, Limits, default_limits

CAP = 30.0
TARGET_RATE = 2000.0
TARGET_CAP_DEVIATION = 0.02
OWNER = "bench-dispatch"
WARM_UP_CHAT = "999999999"
TEXT = (
    "Cảnh báo: kẻ gian giả danh cán bộ xã gọi điện yêu cầu chuyển tiền 'đóng phí hồ sơ'. "
    "UBND xã không bao giờ thu tiền qua điện thoại. Gặp trường hợp này, bà con báo ngay "
    "cho công an xã hoặc trả lời tin nhắn này."
)


class TimedChannel:
    """The channel, noting when each successful send started and answered."""

    def __init__(self, inner: TelegramChannel) -> None:
        self.inner = inner
        self.first: float | None = None
        self.starts: list[float] = []  # of every send, answered or not
        self.answered: list[float] = []

    @property
    def sent(self) -> int:
        return len(self.answered)

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        started = time.perf_counter()
        if self.first is None:
            self.first = started
        self.starts.append(started)
        result = await self.inner.send(recipient, message, purpose)
        self.answered.append(time.perf_counter())
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def seed(account_id: int, count: int, tag: str) -> float:
    """``count`` contacts, each with one broadcast delivery; the seconds it took."""
    started = time.perf_counter()
    contacts = []
    for n in range(count):
        chat_id = str(100_000_000 + n)
        contacts.append(
            Contact(
                channel_account_id=account_id,
                identity_hash=KEYRING.identity_hash(account_id, chat_id),
                identity_sealed=seal_identity(KEYRING, ContactIdentity(chat_id)),
            )
        )
    await Contact.bulk_create(contacts, batch_size=1000)
    ids = await Contact.filter(channel_account_id=account_id).values_list("id", flat=True)
    message = OutboundMessage(text=TEXT)
    planned = await outbox.enqueue_many(
        Planned(
            channel_account_id=account_id,
            message=message,
            kind=DeliveryKind.BROADCAST,
            dedup_key=f"bench:{tag}:{contact_id}",
            contact_id=int(contact_id),  # type: ignore[call-overload]
        )
        for contact_id in ids
    )
    if planned != count:
        raise RunFailed(f"seeding planned {planned} deliveries, not {count}")
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def fake_telegram(workdir: Path, name: str, rate_cap: float | None = None) -> Any:
    """The standalone fake in its own process, on the second core; yields its base URL and
    its pid."""
    _, fake_core = cores()
    argv = [sys.executable, "-m", "tests.fakes.telegram", "--port", "0"]
    if rate_cap:
        argv += ["--rate-cap", f"{rate_cap:g}"]
    fake = await Helper.start(
        "the fake Telegram", argv, log=workdir / f"fake-{name}.log", core=fake_core
    )
    try:
        yield fake.ready_line.rsplit(" ", 1)[1], fake.process.pid
        if fake.process.returncode is not None:
            raise RunFailed(f"the fake Telegram died during the run:\n{fake.log_tail()}")
    finally:
        await fake.stop()


async def fake_stats(base_url: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/_fake/stats") as response,
    ):
        response.raise_for_status()
        stats: dict[str, Any] = await response.json()
        return stats


def _sender(account_id: int, channel: TimedChannel, limits: Limits, concurrency: int) -> Any:
    config = DispatchConfig(concurrency=concurrency)
    return AccountSender(account_id, channel, KEYRING, limits, OWNER, config)  # type: ignore[arg-type]


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _check_alive(task: asyncio.Task[None], what: str) -> None:
    if task.done():
        error = task.exception() if not task.cancelled() else None
        raise RunFailed(f"the sender stopped during {what}: {error!r}")


@dataclass
class Unlimited:
    database: str
    deliveries: int
    seed_s: float
    rate: float
    fake_rate: float
    slowest_second: float | None
    recorded_s: float
    fake_429: int
    duplicates: int
    sender_cpu: float
    fake_cpu: float


def _slowest_second(first: float, answered: list[float]) -> float | None:
    """The fewest sends answered in any full second after the first send (None if the run
    lasted less than two full seconds, where a 'slowest second' says nothing)."""
    seconds = int(answered[-1] - first)
    if seconds < 2:
        return None
    per_second = [0] * seconds
    for moment in answered:
        index = int(moment - first)
        if index < seconds:
            per_second[index] += 1
    return float(min(per_second))


async def unlimited(
    label: str, url: str, deliveries: int, concurrency: int, workdir: Path
) -> Unlimited:
    async with fake_telegram(workdir, f"unlimited-{label}") as (base_url, fake_pid):
        async with open_database(url):
            account_id = await telegram_account("dispatch, limits lifted")
            seed_s = await seed(account_id, deliveries, "unlimited")
            channel = TimedChannel(
                TelegramChannel(account_id, {"token": TELEGRAM_TOKEN}, api_base=base_url)
            )
            limits = Limits(per_second=None, chat_interval=None)
            sender = _sender(account_id, channel, limits, concurrency)
            # aiogram builds its models on first use (about a second, once per process):
            # one send to a chat outside the broadcast keeps that out of the sustained rate.
            await channel.inner.send(
                Recipient(chat_id=WARM_UP_CHAT), OutboundMessage(text="warm-up"), SendPurpose.REPLY
            )
            started = time.perf_counter()
            cpu_before = time.process_time(), cpu_seconds(fake_pid)
            deadline = started + 60 + deliveries / 100
            task = asyncio.create_task(sender.run())
            try:
                while channel.sent < deliveries:
                    _check_alive(task, "the unlimited run")
                    if time.perf_counter() > deadline:
                        raise RunFailed(f"{label}: only {channel.sent} of {deliveries} sent")
                    await asyncio.sleep(0.05)
                busy = time.perf_counter() - started
                sender_cpu = (time.process_time() - cpu_before[0]) / busy
                fake_cpu = (cpu_seconds(fake_pid) - cpu_before[1]) / busy
                sent = Delivery.filter(channel_account_id=account_id, status=DeliveryStatus.SENT)
                while await sent.count() < deliveries:
                    _check_alive(task, "the unlimited run")
                    if time.perf_counter() > deadline:
                        raise RunFailed(f"{label}: the sends were not all recorded in time")
                    await asyncio.sleep(0.05)
                recorded_s = time.perf_counter() - started
            finally:
                await _stop(task)
                await channel.inner.close()
        stats = await fake_stats(base_url)
    assert channel.first is not None
    window = channel.answered[-1] - channel.first
    accepted = stats["calls"].get("sendMessage", 0) - stats["rejected_by_cap"] - 1  # warm-up
    chats = len(stats["by_chat"]) - 1
    if chats != deliveries:
        raise RunFailed(f"{label}: the fake saw {chats} chats for {deliveries} deliveries")
    return Unlimited(
        database=label,
        deliveries=deliveries,
        seed_s=seed_s,
        rate=channel.sent / window,
        fake_rate=accepted / window,
        slowest_second=_slowest_second(channel.first, channel.answered),
        recorded_s=recorded_s,
        fake_429=stats["rejected_by_cap"],
        duplicates=accepted - chats,
        sender_cpu=sender_cpu,
        fake_cpu=fake_cpu,
    )


@dataclass
class Capped:
    database: str
    seconds: float
    accepted: int
    elapsed: float
    fake_429: int
    gap_rate: float

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed

    @property
    def deviation(self) -> float:
        return self.rate / CAP - 1.0


async def capped(label: str, url: str, seconds: float, concurrency: int, workdir: Path) -> Capped:
    async with fake_telegram(workdir, f"capped-{label}", rate_cap=CAP) as (base_url, _):
        async with open_database(url):
            account_id = await telegram_account("dispatch, 30/s")
            # More than the run can send, so the queue never runs dry.
            await seed(account_id, math.ceil(CAP * seconds * 1.2) + 200, "capped")
            channel = TimedChannel(
                TelegramChannel(account_id, {"token": TELEGRAM_TOKEN}, api_base=base_url)
            )
            limits = default_limits(ChannelKind.TELEGRAM, CAP)
            sender = _sender(account_id, channel, limits, concurrency)
            task = asyncio.create_task(sender.run())
            try:
                deadline = time.perf_counter() + 30
                while channel.first is None:
                    _check_alive(task, "the capped run")
                    if time.perf_counter() > deadline:
                        raise RunFailed(f"{label}: the capped run did not start sending")
                    await asyncio.sleep(0.01)
                await asyncio.sleep(channel.first + seconds - time.perf_counter())
                _check_alive(task, "the capped run")
                stopped = time.perf_counter()
            finally:
                # Sends already on their way finish; nothing new starts.
                await _stop(task)
                await channel.inner.close()
        stats = await fake_stats(base_url)
    rejected = int(stats["rejected_by_cap"])
    starts = [moment for moment in channel.starts if moment < stopped]
    return Capped(
        database=label,
        seconds=seconds,
        accepted=int(stats["calls"].get("sendMessage", 0)) - rejected,
        elapsed=stopped - channel.first,
        fake_429=rejected,
        gap_rate=(len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else 0.0,
    )


def print_tables(
    unlimited_runs: list[Unlimited], capped_runs: list[Capped], concurrency: int
) -> None:
    print(
        f"(a) limits lifted — one AccountSender (batch {DispatchConfig().batch}, concurrency "
        f"{concurrency}), real TelegramChannel, fake Telegram in its own process"
    )
    print()
    print(
        "| database | deliveries | seeding | sends/s (first → last send) | sends/s (fake's count) "
        "| slowest second | all recorded `sent` | 429s | duplicates | sender CPU | fake CPU "
        "| target ≥ 2,000/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in unlimited_runs:
        slowest = "—" if run.slowest_second is None else number(run.slowest_second)
        verdict = "met" if run.rate >= TARGET_RATE else "target missed"
        print(
            f"| {run.database} | {number(run.deliveries)} | {run.seed_s:.1f} s "
            f"| {number(run.rate)} | {number(run.fake_rate)} | {slowest} "
            f"| {run.recorded_s:.1f} s | {run.fake_429} | {run.duplicates} "
            f"| {run.sender_cpu:.0%} | {run.fake_cpu:.0%} | {verdict} |"
        )
    print()
    print(
        "(b) the fake answers 429 above 30/s; the sender keeps the default Telegram limits "
        "(30/s per bot, 1 s per chat)"
    )
    print()
    print(
        "| database | run | sends accepted by the fake | achieved rate | vs 30/s "
        "| rate from the gaps between sends | 429s | target ±2 %, no 429 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for run in capped_runs:
        met = abs(run.deviation) <= TARGET_CAP_DEVIATION and run.fake_429 == 0
        print(
            f"| {run.database} | {run.elapsed:.1f} s | {number(run.accepted)} "
            f"| {run.rate:.2f}/s | {run.deviation:+.1%} | {run.gap_rate:.2f}/s | {run.fake_429} "
            f"| {'met' if met else 'target missed'} |"
        )


async def run(args: argparse.Namespace) -> None:
    sender_core, _ = cores()
    pin(sender_core)  # the sender runs here; the fake gets the other core
    pg_version = await postgres_version(args.postgres) if args.postgres else None
    unlimited_runs: list[Unlimited] = []
    capped_runs: list[Capped] = []
    with tempfile.TemporaryDirectory(prefix="communepol-dispatch-") as tmp:
        workdir = Path(tmp)
        async with temporary_databases(workdir, args.postgres) as databases:
            for label, url in databases:
                unlimited_runs.append(
                    await unlimited(label, url, args.deliveries, args.concurrency, workdir)
                )
                capped_runs.append(
                    await capped(label, url, args.seconds, args.concurrency, workdir)
                )
    print_tables(unlimited_runs, capped_runs, args.concurrency)
    print()
    print(machine_line(pg_version))


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the dispatcher against a fake.")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL server")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--deliveries", type=int, help="limits lifted: deliveries (20,000; quick 2,000)"
    )
    parser.add_argument("--seconds", type=float, help="30/s cap: duration (60 s; quick 5 s)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DispatchConfig().concurrency,
        help=f"sends in flight (DispatchConfig's {DispatchConfig().concurrency})",
    )
    args = parser.parse_args()
    if args.deliveries is None:
        args.deliveries = 2_000 if args.quick else 20_000
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 60.0
    try:
        asyncio.run(run(args))
    except RunFailed as err:
        print(f"dispatch benchmark failed: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
