"""Benchmark the tip desk at a province's size: intake, a supervisor's lists, and the
escalation tick.

Run ``.venv/bin/python bench/tips.py`` (SQLite), add ``--postgres
postgres://postgres@127.0.0.1:5432/postgres`` to measure a temporary PostgreSQL database too
(dropped afterwards), ``--quick`` for a smoke run (2,000 stored tips).

The tip issue names no target and no reference; these are the figures its people meet, the
baseline later work is compared against.

Seeding, not timed: a province with 30 communes, an officer on duty in each (their bot linked,
so every new tip plans a card), a province supervisor, a routing rule sending fraud to a cyber
desk, and ``--tips`` stored tips spread over the communes (a fifth of them open, of which a
third are past their first-response deadline), written with the ORM's ``bulk_create``.

Timed, on that database:

1. **intake**: ``Tips.submit`` of 200 tips by 200 residents (vault entry, routes, deadlines,
   card to the officer on duty, audit, all in one transaction): median and p95 per tip. This
   runs in the inbox worker when the resident presses Send.
2. **a supervisor's lists**: what ``/tips overdue`` and ``/tips`` do for the province
   supervisor (``count_tips`` + ``list_tips``) over all 30 communes: median and p95 of 30.
3. **the escalation tick**: ``sla.escalate_due`` with every overdue tip due (each escalated:
   a card to the province supervisor), then the next tick when none is due (the cost every
   30 s while they wait for their repeat interval).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from benchlib import (
    KEYRING,
    machine_line,
    number,
    percentile,
    postgres_version,
    temporary_databases,
)

from communepol.clock import utcnow
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    DutyShift,
    Role,
    RoutingRule,
    Staff,
    StaffIdentity,
    Tip,
    TipCategory,
    TipStatus,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.db.orm import open_database
from communepol.services import sla, tips
from communepol.services.channels import create_channel_account
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.tips import TipInput, Tips
from communepol.text import fold

COMMUNES = 30
INTAKE = 200
LIST_ROUNDS = 30


async def _unit(name: str, level: UnitLevel, parent: Unit | None) -> Unit:
    path = f"{parent.path}{parent.id}/" if parent else "/"
    return await Unit.create(
        level=level,
        kind=name.split()[0],
        name=name,
        name_folded=fold(name),
        parent=parent,
        path=path,
    )


async def _seed(stored: int) -> tuple[Staff, list[Unit], int]:
    account = await create_channel_account(
        KEYRING, kind=ChannelKind.TELEGRAM, name="bench", secrets={"token": "1:B"}
    )
    province = await _unit("Tỉnh Bench", UnitLevel.PROVINCE, None)
    desk = await _unit("Phòng An ninh mạng", UnitLevel.DISTRICT, province)
    await RoutingRule.create(scope_unit=province, category=TipCategory.FRAUD, target_unit=desk)
    communes = [await _unit(f"Xã Bench {n}", UnitLevel.COMMUNE, province) for n in range(COMMUNES)]
    now = utcnow()
    for number_, commune in enumerate(communes):
        officer = await Staff.create(
            full_name=f"Officer {number_}", role=Role.OFFICER, unit=commune
        )
        chat, _ = await find_or_create_contact(
            KEYRING, account, ContactIdentity(f"officer-{number_}")
        )
        await StaffIdentity.create(
            staff=officer,
            channel_account=account,
            identity_hash=chat.identity_hash,
            identity_sealed=chat.identity_sealed,
        )
        await DutyShift.create(staff=officer, unit=commune, started_at=now)
    supervisor = await Staff.create(full_name="Supervisor", role=Role.SUPERVISOR, unit=province)
    chat, _ = await find_or_create_contact(KEYRING, account, ContactIdentity("supervisor"))
    await StaffIdentity.create(
        staff=supervisor,
        channel_account=account,
        identity_hash=chat.identity_hash,
        identity_sealed=chat.identity_sealed,
    )
    rng = random.Random(5)
    rows = []
    overdue = 0
    for n in range(stored):
        is_open = n % 5 == 0
        late = is_open and n % 3 == 0
        overdue += late
        created = now - timedelta(hours=rng.randint(1, 24 * 60))
        rows.append(
            Tip(
                reference=f"B{n:07d}",
                unit=communes[n % COMMUNES],
                category=rng.choice(list(TipCategory)),
                urgency=Urgency.NORMAL,
                status=TipStatus.NEW if is_open else TipStatus.RESOLVED,
                alias=f"Người báo tin #{n % 65536:04X}",
                text="Một tin báo mẫu để đo: có người lạ đi lại nhiều lần quanh chợ vào ban đêm.",
                first_response_due_at=now - timedelta(minutes=5)
                if late
                else now + timedelta(hours=8),
                resolution_due_at=now + timedelta(days=14),
                first_response_at=None
                if is_open
                else created + timedelta(minutes=rng.randint(2, 300)),
                resolved_at=None if is_open else created + timedelta(hours=6),
                created_at=created,
            )
        )
    for start in range(0, len(rows), 2000):
        await Tip.bulk_create(rows[start : start + 2000])
    return supervisor, communes, overdue


async def _timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{statistics.median(ordered):.1f} / {percentile(ordered, 0.95):.1f} ms"


async def measure(url: str, stored: int) -> dict[str, str]:
    async with open_database(url):
        supervisor, communes, overdue = await _seed(stored)
        account = await ChannelAccount.get(name="bench")
        desk = Tips(KEYRING)
        residents = []
        for n in range(INTAKE):
            person, _ = await find_or_create_contact(KEYRING, account, ContactIdentity(f"r-{n}"))
            residents.append(person)
        intake = []
        for n, person in enumerate(residents):
            data = TipInput(
                "fraud" if n % 10 == 0 else "theft",
                "Tôi thấy hai người lạ cạy khóa xe máy trước cổng chợ lúc 21 giờ.",
                communes[n % COMMUNES].id,
            )
            intake.append(await _timed(lambda p=person, d=data: desk.submit(p, d)))
        lists = []
        for _ in range(LIST_ROUNDS):

            async def both() -> None:
                await tips.count_tips(supervisor)
                await tips.list_tips(supervisor, tips.TipList.OVERDUE)

            lists.append(await _timed(both))
        open_lists = [
            await _timed(lambda: tips.list_tips(supervisor, tips.TipList.OPEN))
            for _ in range(LIST_ROUNDS)
        ]
        due = await Tip.filter(status=TipStatus.NEW, first_response_due_at__lte=utcnow()).count()
        started = time.perf_counter()
        escalated = await sla.escalate_due(KEYRING)
        first_tick = time.perf_counter() - started
        started = time.perf_counter()
        again = await sla.escalate_due(KEYRING)
        idle_tick = time.perf_counter() - started
        if escalated != due or again != 0:
            raise SystemExit(f"escalated {escalated} of {due}, then {again}: wrong")
    return {
        "stored tips (overdue)": f"{number(stored)} ({number(overdue)})",
        "intake, `Tips.submit` (median / p95)": _ms(intake),
        "province supervisor, `/tips overdue` (median / p95)": _ms(lists),
        "province supervisor, `/tips` (median / p95)": _ms(open_lists),
        f"escalation tick, all due ({number(escalated)})": (
            f"{first_tick:.1f} s ({first_tick / max(escalated, 1) * 1000:.1f} ms a tip)"
        ),
        "escalation tick, none due": f"{idle_tick:.2f} s",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="also measure a temporary database on this server")
    parser.add_argument("--quick", action="store_true", help="2,000 stored tips")
    parser.add_argument("--tips", type=int, default=50_000, help="stored tips (default 50,000)")
    args = parser.parse_args()
    stored = 2_000 if args.quick else args.tips
    pg = await postgres_version(args.postgres) if args.postgres else None
    print(machine_line(pg))
    results: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        async with temporary_databases(Path(workdir), args.postgres) as databases:
            for label, url in databases:
                results[label] = await measure(url, stored)
    labels = list(results)
    print("| step | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for step in results[labels[0]]:
        print(f"| {step} | " + " | ".join(results[label][step] for label in labels) + " |")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
