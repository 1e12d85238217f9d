"""Benchmark the fan-out: one post published to a page's followers becomes their deliveries.

Run ``.venv/bin/python bench/fanout.py`` (SQLite), add ``--postgres
postgres://postgres@127.0.0.1:5432/postgres`` to measure a temporary PostgreSQL database too
(dropped afterwards), ``--quick`` for a smoke run of a few seconds (20,000 followers, one
round).

Target (the fan-out issue): publishing one post to 350,000 followers materialises its
deliveries in **at most 5 s** on SQLite and on PostgreSQL, and **within 2× of a raw bulk
insert of the same rows by the database driver** measured in the same run; peak memory
reported.

Seeding, not timed: a commune, its page, a web chat account carrying it, one officer, then
``--followers`` contacts (one in ten reads English, the rest Vietnamese) with an active follow
each, written by the driver itself (``executemany`` in one transaction on SQLite, ``COPY`` on
PostgreSQL, followed there by ``VACUUM ANALYZE`` as autovacuum would do on a real table).

Each round, on an emptied ``delivery`` table:

1. fan-out: a new post in Vietnamese and English is written and submitted to go out "now"
   through `communepol.services.posts`; then the timed call is exactly the ticker's
   ``await Publisher(settings, i18n).publish_due(now)`` — the claim, the `Publication`, the
   ``INSERT … SELECT`` over the follows, the community groups, the Zalo quota step and the
   commit. It must return one publication holding exactly ``--followers`` deliveries.
2. the deliveries are deleted and the same rows (same columns and values, same publication)
   are inserted by the driver into the same table with the same indexes: on SQLite
   ``executemany`` in one transaction on a plain ``sqlite3`` connection with the service's
   pragmas (WAL, synchronous FULL, 64 MiB cache, foreign keys); on PostgreSQL asyncpg's
   ``copy_records_to_table`` (the reference) and, for comparison, ``executemany`` in one
   transaction. The rows are built in Python before the clock starts.

Before each timed step the table is emptied and the database checkpointed (SQLite
``wal_checkpoint(TRUNCATE)``, PostgreSQL ``CHECKPOINT``), so no step pays for another's
writes; a step's own checkpoint at commit (SQLite's automatic one past 1,000 WAL pages) is
part of its time, as it is of the service's.

Peak memory: the growth of this process's resident set during the step — ``VmHWM`` after the
step minus ``VmRSS`` before it, the high-water mark having been reset just before through
``/proc/self/clear_refs``. On SQLite the database work runs inside this process (aiosqlite's
thread, its page cache included); on PostgreSQL it runs in the server, which is not counted.

The fan-out's time is split by wrapping `posts.plan_audience` and `fanout.plan_followers`
(their call sites look them up at call time): *prepare* (select the due post, claim it, read
and render it, create the publication), *INSERT … SELECT* (`fanout.plan_followers`, the
quota included), *groups + quota* (the page's accounts, `promotion_room`, `plan_groups`,
`note_quota_blocked`), *update + commit* (the publication's recipients, the post's status,
COMMIT).

``--zalo-quota N`` carries the page on a Zalo OA with a monthly promotion quota of N instead
of the web chat account, so the quota step marks the rows beyond N ``quota_blocked``; the
reference then writes the same rows, blocked ones included.

``--must-reach`` publishes a post that must reach every household, with one follower in
``SHARED_EVERY`` a shared household account: those rows name the relay variant of the message
(``"vi+relay"``, the button "I have told the households"), chosen inside the same INSERT; the
reference writes the same payloads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from benchlib import (
    KEYRING,
    SECRET_KEY,
    RunFailed,
    cores,
    machine_line,
    number,
    pin,
    postgres_version,
    temporary_databases,
)

from communepol.db.models import (
    PRIORITY_OF_KIND,
    ChannelAccount,
    ChannelKind,
    DeliveryKind,
    DeliveryStatus,
    Page,
    PageChannel,
    Publication,
    Role,
    ScheduleKind,
    Staff,
    Unit,
    UnitLevel,
)
from communepol.db.orm import open_database, tortoise_config
from communepol.i18n import I18n
from communepol.services import fanout, posts
from communepol.services.channels import create_channel_account
from communepol.services.fanout import QUOTA_REASON, Audience
from communepol.services.outbox import FROM_PUBLICATION
from communepol.services.posts import PostInput, Publisher, Translation
from communepol.settings import Settings

TARGET_SECONDS = 5.0
TARGET_RATIO = 2.0
TARGET_FOLLOWERS = 350_000
ENGLISH_EVERY = 10  # one contact in ten reads English
SHARED_EVERY = 10  # with --must-reach: one contact in ten is a shared household account

KIND = DeliveryKind.BROADCAST
COLUMNS = (
    "channel_account_id",
    "contact_id",
    "kind",
    "priority",
    "dedup_key",
    "payload",
    "publication_id",
    "status",
    "attempts",
    "not_before",
    "created_at",
    "last_error",
)
INSERT = f"INSERT INTO delivery ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
INSERT_PG = (
    f"INSERT INTO delivery ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(COLUMNS) + 1))})"
)
TEXTS = (
    Translation(
        "vi",
        "Cảnh báo lừa đảo: giả danh cán bộ xã gọi điện thu phí hồ sơ",
        "Kẻ gian giả danh cán bộ xã gọi điện yêu cầu chuyển tiền 'đóng phí hồ sơ'. UBND xã "
        "không bao giờ thu tiền qua điện thoại. Gặp trường hợp này, bà con báo ngay cho công "
        "an xã hoặc trả lời tin nhắn này.",
    ),
    Translation(
        "en",
        "Fraud warning: callers posing as commune officials",
        "Callers posing as commune officials ask people to transfer a 'file fee'. The commune "
        "never collects money by phone. If this happens to you, tell the commune police or "
        "answer this message.",
    ),
)


# -- time and memory --------------------------------------------------------------------------


def _status_kib(name: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RunFailed(f"/proc/self/status has no {name}")


@dataclass
class Measured:
    seconds: float = 0.0
    rss_growth_kib: int = 0
    peak_kib: int = 0  # the process's whole resident set at its peak during the block
    exact_peak: bool = True  # False: the high-water mark could not be reset (a lower bound)


@contextlib.contextmanager
def measured() -> Iterator[Measured]:
    """Wall time and the resident set's peak growth of the block."""
    result = Measured()
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")  # reset VmHWM
    except OSError:
        result.exact_peak = False
    hwm_before = _status_kib("VmHWM")
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    yield result
    result.seconds = time.perf_counter() - started
    hwm_after = _status_kib("VmHWM")
    result.peak_kib = hwm_after
    result.rss_growth_kib = (
        hwm_after - rss_before if result.exact_peak else max(0, hwm_after - hwm_before)
    )


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MiB"


@dataclass
class Phases:
    """Where the fan-out's time went (seconds), filled in by `instrumented`."""

    call_started: float = 0.0
    plan_started: float = 0.0
    plan_ended: float = 0.0
    followers: float = 0.0
    call_ended: float = 0.0

    def split(self) -> tuple[float, float, float, float]:
        """(prepare, INSERT … SELECT, groups + quota, update + commit)."""
        plan = self.plan_ended - self.plan_started
        return (
            self.plan_started - self.call_started,
            self.followers,
            plan - self.followers,
            self.call_ended - self.plan_ended,
        )


@contextlib.contextmanager
def instrumented(phases: Phases) -> Iterator[None]:
    """Time `posts.plan_audience` and `fanout.plan_followers` without changing them."""
    original_plan = posts.plan_audience
    original_followers = fanout.plan_followers

    async def plan_audience(
        audience: Audience, messages: dict[str, Any], now: datetime, settings: Settings
    ) -> int:
        phases.plan_started = time.perf_counter()
        try:
            return await original_plan(audience, messages, now, settings)
        finally:
            phases.plan_ended = time.perf_counter()

    async def plan_followers(
        audience: Audience, now: datetime, room: Mapping[int, int] | None = None
    ) -> int:
        started = time.perf_counter()
        try:
            return await original_followers(audience, now, room)
        finally:
            phases.followers = time.perf_counter() - started

    posts.plan_audience = plan_audience
    fanout.plan_followers = plan_followers
    try:
        yield
    finally:
        posts.plan_audience = original_plan
        fanout.plan_followers = original_followers


# -- the rows ---------------------------------------------------------------------------------


def payload(locale: str) -> str:
    """A follower's payload as `fanout.payload_sql` writes it."""
    return f'{{"{FROM_PUBLICATION}": "{locale}"}}'


def sqlite_time(moment: datetime) -> str:
    """An aware datetime as the service stores it on SQLite (see `communepol.db.raw`)."""
    return moment.isoformat(sep=" ", timespec="microseconds")


@dataclass
class Audiences:
    """What seeding made: the ids the rounds need, and each contact's (id, locale)."""

    account_id: int
    page_id: int
    staff_id: int
    quota: int | None  # the Zalo OA's monthly promotion quota, None for the web chat account
    must_reach: bool = False  # a post every household must hear; shared accounts get the relay
    contacts: list[tuple[int, str]] = field(default_factory=list)
    seed_s: float = 0.0


def delivery_rows(
    seeded: Audiences, publication_id: int, now: datetime | str
) -> list[tuple[Any, ...]]:
    """The rows the fan-out planned for ``publication_id``, in `COLUMNS` order; with a Zalo
    quota, the rows beyond it are ``quota_blocked`` with the reason, as the fan-out plans
    them."""
    account, priority = seeded.account_id, int(PRIORITY_OF_KIND[KIND])
    prefix = f"pub:{publication_id}:c:"
    payloads = {locale: payload(locale) for locale in ("vi", "en", "vi+relay", "en+relay")}
    allowed = len(seeded.contacts) if seeded.quota is None else seeded.quota
    pending = (DeliveryStatus.PENDING.value, None)
    blocked = (DeliveryStatus.QUOTA_BLOCKED.value, QUOTA_REASON)
    return [
        (
            account,
            contact_id,
            KIND.value,
            priority,
            f"{prefix}{contact_id}",
            payloads[f"{locale}+relay" if seeded.must_reach and shared(n) else locale],
            publication_id,
            (pending if n < allowed else blocked)[0],
            0,
            now,
            now,
            (pending if n < allowed else blocked)[1],
        )
        for n, (contact_id, locale) in enumerate(seeded.contacts)
    ]


# -- seeding ----------------------------------------------------------------------------------


async def seed_objects(quota: int | None) -> Audiences:
    """The commune, its page, the account carrying it — web chat, or with ``quota`` a Zalo
    OA with that monthly promotion quota — and an officer (by the ORM)."""
    commune = await Unit.create(
        level=UnitLevel.COMMUNE, kind="Xã", name="Xã Ea Kar", name_folded="ea kar", path="/"
    )
    page = await Page.create(unit=commune, slug="ea-kar", title="Công an xã Ea Kar")
    if quota is None:
        account = await create_channel_account(KEYRING, kind=ChannelKind.WEBCHAT, name="Web chat")
    else:  # never sent to: no credentials needed
        account = await ChannelAccount.create(
            kind=ChannelKind.ZALO_OA, name="Zalo OA", monthly_promotion_quota=quota
        )
    await PageChannel.create(page=page, channel_account=account)
    officer = await Staff.create(full_name="Nguyễn Văn An", role=Role.OFFICER, unit=commune)
    return Audiences(account_id=account.id, page_id=page.id, staff_id=officer.id, quota=quota)


def shared(n: int) -> bool:
    """Whether the ``n``-th contact is a shared household account (with ``--must-reach``)."""
    return n % SHARED_EVERY == 1


def _kind(seeded: Audiences, n: int) -> str:
    return "shared_household" if seeded.must_reach and shared(n) else "person"


def _contacts(count: int, first_id: int) -> list[tuple[int, str]]:
    return [(first_id + n, "en" if n % ENGLISH_EVERY == 0 else "vi") for n in range(count)]


def seed_sqlite(path: Path, seeded: Audiences, count: int) -> None:
    """``count`` contacts with an active follow each, by ``executemany`` in one transaction."""
    now = sqlite_time(datetime.now(UTC))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM contact").fetchone()[0]
        seeded.contacts = _contacts(count, first)
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO contact (id, channel_account_id, identity_hash, identity_sealed, kind, "
            "locale, reachability, created_at) VALUES (?, ?, ?, ?, ?, ?, 'reachable', ?)",
            (
                (
                    contact_id,
                    seeded.account_id,
                    f"{contact_id:064x}",
                    "bench",
                    _kind(seeded, n),
                    locale,
                    now,
                )
                for n, (contact_id, locale) in enumerate(seeded.contacts)
            ),
        )
        conn.executemany(
            "INSERT INTO follow (page_id, contact_id, status, source, followed_at) "
            "VALUES (?, ?, 'active', 'bot', ?)",
            ((seeded.page_id, contact_id, now) for contact_id, _ in seeded.contacts),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


async def seed_postgres(url: str, seeded: Audiences, count: int) -> None:
    """The same by ``COPY``, then ``VACUUM ANALYZE`` (autovacuum's work on a real table)."""
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        first = await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM contact")
        seeded.contacts = _contacts(count, first)
        async with conn.transaction():
            await conn.copy_records_to_table(
                "contact",
                columns=(
                    "id",
                    "channel_account_id",
                    "identity_hash",
                    "identity_sealed",
                    "kind",
                    "locale",
                    "reachability",
                    "created_at",
                ),
                records=[
                    (
                        contact_id,
                        seeded.account_id,
                        f"{contact_id:064x}",
                        "bench",
                        _kind(seeded, n),
                        locale,
                        "reachable",
                        now,
                    )
                    for n, (contact_id, locale) in enumerate(seeded.contacts)
                ],
            )
            await conn.execute("SELECT setval('contact_id_seq', (SELECT max(id) FROM contact))")
            await conn.copy_records_to_table(
                "follow",
                columns=("page_id", "contact_id", "status", "source", "followed_at"),
                records=[
                    (seeded.page_id, contact_id, "active", "bot", now)
                    for contact_id, _ in seeded.contacts
                ],
            )
        await conn.execute("VACUUM ANALYZE contact, follow")
    finally:
        await conn.close()


# -- one database -----------------------------------------------------------------------------


@dataclass
class Step:
    database: str
    round: int
    step: str  # "fan-out", or the driver's method
    rows: int
    measured: Measured
    phases: tuple[float, float, float, float] | None = None  # fan-out only

    @property
    def seconds(self) -> float:
        return self.measured.seconds


@dataclass
class Engine:
    """What a round needs from one engine besides the service: emptying the table,
    checkpointing, counting and the driver's bulk inserts."""

    label: str
    empty: Callable[[], Awaitable[None]]
    count: Callable[[int], Awaitable[dict[str, int]]]
    references: list[tuple[str, Callable[[list[tuple[Any, ...]]], Awaitable[None]]]]
    row_time: Callable[[datetime], datetime | str]
    close: Callable[[], Awaitable[None]]
    notes: list[str] = field(default_factory=list)


def sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite://")
    credentials = dict(tortoise_config(url)["connections"]["sqlite"]["credentials"])
    credentials.pop("file_path")
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma, value in credentials.items():  # the service's own pragmas
        conn.execute(f"PRAGMA {pragma}={value}").fetchall()

    async def empty() -> None:
        conn.execute("DELETE FROM delivery")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    async def count(publication_id: int) -> dict[str, int]:
        query = "SELECT status, count(*) FROM delivery WHERE publication_id = ? GROUP BY status"
        return {status: int(n) for status, n in conn.execute(query, (publication_id,))}

    async def executemany(rows: list[tuple[Any, ...]]) -> None:
        conn.execute("BEGIN")
        try:
            conn.executemany(INSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def close() -> None:
        conn.close()

    pragmas = ", ".join(f"{k}={v}" for k, v in credentials.items())
    return Engine(
        "SQLite",
        empty,
        count,
        [("sqlite3 executemany, one transaction", executemany)],
        sqlite_time,
        close,
        notes=[f"pragmas (the service's, on both connections): {pragmas}"],
    )


async def postgres_engine(url: str) -> Engine:
    conn = await asyncpg.connect(url)
    checkpoint = True

    async def empty() -> None:
        nonlocal checkpoint
        await conn.execute("TRUNCATE delivery")
        if checkpoint:
            try:
                await conn.execute("CHECKPOINT")
            except asyncpg.InsufficientPrivilegeError:
                checkpoint = False

    async def count(publication_id: int) -> dict[str, int]:
        query = "SELECT status, count(*) FROM delivery WHERE publication_id = $1 GROUP BY status"
        return {row[0]: int(row[1]) for row in await conn.fetch(query, publication_id)}

    async def copy(rows: list[tuple[Any, ...]]) -> None:
        await conn.copy_records_to_table("delivery", columns=COLUMNS, records=rows)

    async def executemany(rows: list[tuple[Any, ...]]) -> None:
        async with conn.transaction():
            await conn.executemany(INSERT_PG, rows)

    async def close() -> None:
        if not checkpoint:
            print("note: CHECKPOINT was refused (not a superuser); steps were not checkpointed")
        await conn.close()

    return Engine(
        "PostgreSQL",
        empty,
        count,
        [
            ("asyncpg copy_records_to_table", copy),
            ("asyncpg executemany, one transaction", executemany),
        ],
        lambda moment: moment,
        close,
    )


def _file_sizes(path: Path) -> str:
    """The database file's size and its WAL's."""
    wal = path.with_name(path.name + "-wal")
    wal_size = wal.stat().st_size if wal.exists() else 0
    return f"{megabytes(path.stat().st_size)} + WAL {megabytes(wal_size)}"


async def new_post(seeded: Audiences, settings: Settings) -> None:
    """A post in two languages, submitted to go out now (a draft, then scheduled)."""
    staff = await Staff.get(id=seeded.staff_id)
    data = PostInput(
        "fraud_warning", TEXTS, ScheduleKind.NOW, must_reach_every_household=seeded.must_reach
    )
    post = await posts.create_post(staff, seeded.page_id, data, settings, source="bench")
    await posts.submit_post(staff, post.id, settings, source="bench")


def check_rows(label: str, what: str, seeded: Audiences, counts: dict[str, int]) -> int:
    """The rows of the publication, by status, must be one per follower, those beyond a Zalo
    quota blocked; their number."""
    followers = len(seeded.contacts)
    allowed = followers if seeded.quota is None else min(seeded.quota, followers)
    expected = {DeliveryStatus.PENDING.value: allowed}
    if followers > allowed:
        expected[DeliveryStatus.QUOTA_BLOCKED.value] = followers - allowed
    expected = {status: n for status, n in expected.items() if n}
    if counts != expected:
        raise RunFailed(f"{label}: {what} left {counts} rows, not {expected}")
    return sum(counts.values())


async def fan_out(
    engine: Engine, seeded: Audiences, publisher: Publisher, settings: Settings, round_: int
) -> tuple[Step, int, datetime]:
    """One timed ``publish_due`` on an emptied table; the step, the publication and its
    ``now``."""
    await new_post(seeded, settings)
    await engine.empty()
    phases = Phases()
    now = datetime.now(UTC)
    with instrumented(phases), measured() as result:
        phases.call_started = time.perf_counter()
        published = await publisher.publish_due(now)
        phases.call_ended = time.perf_counter()
    if len(published) != 1:
        raise RunFailed(f"{engine.label}: publish_due published {published}, not one post")
    publication_id = published[0]
    rows = check_rows(engine.label, "the fan-out", seeded, await engine.count(publication_id))
    recipients = (await Publication.get(id=publication_id)).recipients
    if recipients != rows:
        # Not the benchmark's target (the rows are), but wrong: say so.
        engine.notes.append(
            f"round {round_}: the publication records {number(recipients)} recipients "
            f"for the {number(rows)} rows planned"
        )
    step = Step(engine.label, round_, "fan-out: publish_due", rows, result, phases.split())
    return step, publication_id, now


async def reference(
    engine: Engine, seeded: Audiences, publication_id: int, now: datetime, round_: int
) -> list[Step]:
    """The same rows by the driver, each method on an emptied table."""
    steps = []
    for name, insert in engine.references:
        rows = delivery_rows(seeded, publication_id, engine.row_time(now))
        await engine.empty()
        with measured() as result:
            await insert(rows)
        del rows  # before the next method builds its own
        written = check_rows(engine.label, name, seeded, await engine.count(publication_id))
        steps.append(Step(engine.label, round_, name, written, result))
    return steps


@dataclass
class Result:
    database: str
    followers: int
    seed_s: float
    steps: list[Step]
    notes: list[str]


async def run_database(
    label: str, url: str, args: argparse.Namespace, workdir: Path, i18n: I18n
) -> Result:
    settings = Settings(secret_key=SECRET_KEY, database_url=url, data_dir=workdir / "data")
    path = Path(url.removeprefix("sqlite://"))
    notes: list[str] = []
    steps: list[Step] = []
    async with open_database(url):
        seeded = await seed_objects(args.zalo_quota)
        seeded.must_reach = args.must_reach
        started = time.perf_counter()
        if label == "SQLite":
            seed_sqlite(path, seeded, args.followers)
        else:
            await seed_postgres(url, seeded, args.followers)
        seeded.seed_s = time.perf_counter() - started
        engine = sqlite_engine(url) if label == "SQLite" else await postgres_engine(url)
        publisher = Publisher(settings, i18n)
        if seeded.must_reach:
            notes.append(
                f"a post every household must hear; one follower in {SHARED_EVERY} is a shared "
                "household account and gets the relay variant"
            )
        if seeded.quota is None:
            notes.append("the page's account is web chat: the Zalo quota step finds nothing")
        else:
            notes.append(
                f"the page's account is a Zalo OA with a monthly promotion quota of "
                f"{number(seeded.quota)}: the fan-out plans the rows beyond it quota_blocked"
            )
        try:
            await engine.empty()  # checkpointed: the WAL is empty
            size_before = _file_sizes(path) if label == "SQLite" else ""
            for round_ in range(1, args.rounds + 1):
                step, publication_id, now = await fan_out(
                    engine, seeded, publisher, settings, round_
                )
                steps.append(step)
                if label == "SQLite" and round_ == 1:
                    notes.append(
                        f"database file: {size_before} after seeding, "
                        f"{_file_sizes(path)} after the first fan-out"
                    )
                steps += await reference(engine, seeded, publication_id, now, round_)
        finally:
            await engine.close()
        notes += engine.notes
    return Result(label, args.followers, seeded.seed_s, steps, notes)


# -- the report -------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value * 1000:,.0f} ms" if value < 1 else f"{value:,.2f} s"


def _growth(measured: Measured) -> str:
    growth = ("+" if measured.exact_peak else "≥ +") + mib(measured.rss_growth_kib)
    return f"{growth} (peak {mib(measured.peak_kib)})"


def print_tables(results: list[Result], rounds: int) -> None:
    print(
        "Each round on an emptied `delivery` table, checkpointed before each step. Peak RSS "
        "growth: this process's high-water mark during the step minus its RSS before (the "
        "driver's rows are built before the step); PostgreSQL's work is in the server, not "
        "counted."
    )
    print()
    print(
        "| database | round | step | rows | time | rows/s | peak RSS growth | prepare "
        "| INSERT … SELECT | groups + quota | update + commit |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        for step in result.steps:
            split = (
                " | ".join(_seconds(part) for part in step.phases) if step.phases else " |  |  | "
            )
            print(
                f"| {step.database} | {step.round} | {step.step} | {number(step.rows)} "
                f"| {_seconds(step.seconds)} | {number(step.rows / step.seconds)} "
                f"| {_growth(step.measured)} | {split} |"
            )
    print()
    print(
        f"| database | followers | seeding (untimed) | fan-out, median of {rounds} "
        "| driver's bulk insert, median | fan-out / driver | target ≤ 5 s | target ≤ 2× |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    lines = []
    for result in results:
        by_step: dict[str, list[float]] = {}
        for step in result.steps:
            by_step.setdefault(step.step, []).append(step.seconds)
        fan_out_s = statistics.median(by_step.pop("fan-out: publish_due"))
        (reference_name, reference_times), *others = by_step.items()
        reference_s = statistics.median(reference_times)
        ratio = fan_out_s / reference_s
        full = result.followers == TARGET_FOLLOWERS
        seconds_verdict = (
            ("met" if fan_out_s <= TARGET_SECONDS else "target missed") if full else "—"
        )
        ratio_verdict = ("met" if ratio <= TARGET_RATIO else "target missed") if full else "—"
        print(
            f"| {result.database} | {number(result.followers)} | {result.seed_s:.1f} s "
            f"| {_seconds(fan_out_s)} | {_seconds(reference_s)} ({reference_name}) "
            f"| {ratio:.2f} | {seconds_verdict} | {ratio_verdict} |"
        )
        for name, times in others:
            other_s = statistics.median(times)
            lines.append(
                f"- {result.database}: {name}, median {_seconds(other_s)} "
                f"(fan-out / it: {fan_out_s / other_s:.2f})"
            )
        lines += [f"- {result.database}: {note}" for note in result.notes]
    if results and results[0].followers != TARGET_FOLLOWERS:
        lines.append(
            f"- {number(results[0].followers)} followers, not the target's "
            f"{number(TARGET_FOLLOWERS)}: no verdict"
        )
    if lines:
        print()
        print("\n".join(lines))


async def run(args: argparse.Namespace) -> None:
    own_core, _ = cores()
    pin(own_core)  # the service and the driver both run here; PostgreSQL is not pinned
    pg_version = await postgres_version(args.postgres) if args.postgres else None
    i18n = I18n.load()
    results = []
    with tempfile.TemporaryDirectory(prefix="communepol-fanout-") as tmp:
        workdir = Path(tmp)
        async with temporary_databases(workdir, args.postgres) as databases:
            for label, url in databases:
                results.append(await run_database(label, url, args, workdir, i18n))
    print_tables(results, args.rounds)
    print()
    print(machine_line(pg_version))


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark publishing a post to its followers.")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL server")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument(
        "--followers", type=int, help=f"active followers ({TARGET_FOLLOWERS:,}; quick 20,000)"
    )
    parser.add_argument("--rounds", type=int, help="fan-out / reference rounds (3; quick 1)")
    parser.add_argument(
        "--zalo-quota",
        type=int,
        metavar="N",
        help="carry the page on a Zalo OA with a monthly promotion quota of N instead of the "
        "web chat account: rows beyond N are planned quota_blocked (the quota step)",
    )
    parser.add_argument(
        "--must-reach",
        action="store_true",
        help=f"a post every household must hear, one follower in {SHARED_EVERY} a shared "
        "household account (the relay variant)",
    )
    args = parser.parse_args()
    if args.followers is None:
        args.followers = 20_000 if args.quick else TARGET_FOLLOWERS
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.followers < 1 or args.rounds < 1 or (args.zalo_quota or 0) < 0:
        parser.error("--followers and --rounds must be at least 1, --zalo-quota at least 0")
    try:
        asyncio.run(run(args))
    except RunFailed as err:
        print(f"fan-out benchmark failed: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
