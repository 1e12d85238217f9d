"""Benchmark the unit import and search on a fresh temporary database.

Run ``.venv/bin/python bench/units.py``. By default the database is a temporary SQLite file;
``--postgres postgres://user@host:5432/postgres`` uses a temporary PostgreSQL database created
on that server instead (and dropped afterwards). ``--searches N`` changes the number of
searches. Times the full import of provinces and communes, an idempotent re-import, and a mix
of searches (exact, with a kind word, prefix, typos, no match), then prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from communepol.db.models import UnitLevel
from communepol.db.orm import migrate, open_database
from communepol.services.units import count_units, import_units, search_units

QUERIES: list[tuple[str, str]] = [
    ("exact", "cu mgar"),
    ("exact", "Buôn Ma Thuột"),
    ("exact", "ea kar"),
    ("exact", "M’Drắk"),
    ("exact", "tan thanh"),
    ("kind word", "Xã Cư M'gar"),
    ("kind word", "tinh dak lak"),
    ("kind word", "thành phố hồ chí minh"),
    ("prefix", "buon"),
    ("prefix", "ea k"),
    ("prefix", "phu"),
    ("prefix", "krong"),
    ("typo", "ea kra"),
    ("typo", "cu mgra"),
    ("typo", "buon me thuot"),
    ("typo", "ho chi min"),
    ("typo", "hanoi"),
    ("typo", "dak lac"),
    ("none", "xyzxyz"),
    ("none", "qwerty uiop"),
]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


async def measure(url: str, searches: int) -> None:
    """Migrate the empty database at ``url``, run the benchmark on it and print the table."""
    async with open_database(url, create=True) as ctx:
        await migrate(ctx)
        started = time.perf_counter()
        first = await import_units()
        import_s = time.perf_counter() - started
        started = time.perf_counter()
        second = await import_units()
        reimport_s = time.perf_counter() - started
        provinces = await count_units(UnitLevel.PROVINCE)
        communes = await count_units(UnitLevel.COMMUNE)

        by_kind: dict[str, list[float]] = {}
        every: list[float] = []
        for i in range(searches):
            kind, query = QUERIES[i % len(QUERIES)]
            started = time.perf_counter()
            await search_units(query)
            elapsed = time.perf_counter() - started
            by_kind.setdefault(kind, []).append(elapsed)
            every.append(elapsed)

    engine = urlsplit(url).scheme
    print(f"{engine}: {provinces} provinces, {communes} communes")
    print(f"first import: {first}; again: {second}")
    print()
    print("| step | n | median | p95 |")
    print("|---|---:|---:|---:|")
    print(f"| full import | 1 | {_ms(import_s)} | |")
    print(f"| re-import (no changes) | 1 | {_ms(reimport_s)} | |")
    for kind, samples in by_kind.items():
        median, p95 = _ms(statistics.median(samples)), _ms(_p95(samples))
        print(f"| search: {kind} | {len(samples)} | {median} | {p95} |")
    median, p95 = _ms(statistics.median(every)), _ms(_p95(every))
    print(f"| search: all | {len(every)} | {median} | {p95} |")


async def run(searches: int, postgres: str | None) -> None:
    if not postgres:
        with tempfile.TemporaryDirectory() as tmp:
            await measure(f"sqlite://{Path(tmp) / 'bench.sqlite3'}", searches)
        return
    name = f"communepol_bench_{uuid.uuid4().hex[:10]}"
    try:
        await measure(urlunsplit(urlsplit(postgres)._replace(path="/" + name)), searches)
    finally:
        conn = await asyncpg.connect(postgres)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the unit import and search.")
    parser.add_argument("--searches", type=int, default=200, help="number of searches (200)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use instead")
    args = parser.parse_args()
    asyncio.run(run(args.searches, args.postgres))


if __name__ == "__main__":
    main()
