"""What the channel benchmarks share: temporary databases, CPU pinning, helper processes,
percentiles and the one line that describes the machine.

Not a benchmark itself; ``bench/intake.py`` and ``bench/dispatch.py`` import it (a script's own
directory is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import platform
import signal
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from communepol.crypto import Keyring
from communepol.db.models import ChannelKind
from communepol.db.orm import migrate, open_database
from communepol.services.channels import create_channel_account

ROOT = Path(__file__).resolve().parent.parent
# A fixed key: the benchmark's databases are temporary, nothing sealed with it outlives a run.
SECRET_KEY = "communepol-benchmark-secret-key-0123456789abcdef"
KEYRING = Keyring(SECRET_KEY)
TELEGRAM_TOKEN = "123456:BENCHMARK-token_for-the-fake"
# Before any pinning narrows this process's own set.
USABLE_CORES = sorted(os.sched_getaffinity(0))


class RunFailed(Exception):
    """The run itself failed (a process died, a count does not add up): exit non-zero."""


# -- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    return "? GiB"


async def postgres_version(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        return str(await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()


def machine_line(postgres: str | None = None) -> str:
    """CPU, cores, memory, Python, SQLite (and PostgreSQL when used), and the load average at
    the end, which shows whether anything else was running."""
    parts = [
        cpu_model(),
        f"{os.cpu_count()} cores ({len(USABLE_CORES)} usable)",
        memory_gib(),
        f"Linux {platform.release()}",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
        f"aiohttp {aiohttp.__version__}",
    ]
    if postgres:
        parts.append(f"PostgreSQL {postgres} (loopback, not pinned)")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    parts.append(f"load average {load}")
    return "machine: " + "; ".join(parts)


# -- CPU pinning ------------------------------------------------------------------------------


def cores() -> tuple[int | None, int | None]:
    """(server core, load core): the first two usable cores, or (None, None) with fewer than
    two (then nothing is pinned)."""
    if len(USABLE_CORES) < 2:
        return None, None
    return USABLE_CORES[0], USABLE_CORES[1]


def pin(core: int | None, pid: int = 0) -> None:
    if core is not None:
        with contextlib.suppress(OSError):  # the process may already have ended
            os.sched_setaffinity(pid, {core})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- statistics -------------------------------------------------------------------------------


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples (0 for none)."""
    if not sorted_samples:
        return 0.0
    rank = max(1, round(fraction * len(sorted_samples)))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]


def number(value: float) -> str:
    return f"{value:,.0f}"


# -- databases --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def temporary_databases(
    workdir: Path, postgres: str | None
) -> AsyncIterator[list[tuple[str, str]]]:
    """``[(label, url)]``: a fresh migrated SQLite file in ``workdir``, and with ``postgres`` a
    fresh migrated database on that server, dropped on the way out."""
    databases = [("SQLite", f"sqlite://{workdir / 'bench.sqlite3'}")]
    name = f"communepol_bench_{uuid.uuid4().hex[:10]}"
    if postgres:
        databases.append(("PostgreSQL", urlunsplit(urlsplit(postgres)._replace(path="/" + name))))
    try:
        for _, url in databases:
            async with open_database(url, create=True) as ctx:
                await migrate(ctx)
        yield databases
    finally:
        if postgres:
            conn = await asyncpg.connect(postgres)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


async def telegram_account(name: str, *, webhook_secret: str | None = None) -> int:
    """A Telegram channel account in the open database; its id."""
    secrets: dict[str, str] = {"token": TELEGRAM_TOKEN}
    if webhook_secret:
        secrets["webhook_secret"] = webhook_secret
    account = await create_channel_account(
        KEYRING, kind=ChannelKind.TELEGRAM, name=name, secrets=secrets
    )
    return account.id


def telegram_fakes() -> ModuleType:
    """``tests.fakes.telegram`` (its update builders): the tests are not an installed package."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.fakes.telegram")


# -- helper processes -------------------------------------------------------------------------


class Helper:
    """A child process that prints one line when it is ready, stopped with SIGTERM."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.ready_line = ""

    @classmethod
    async def start(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        core: int | None = None,
        env: dict[str, str] | None = None,
        ready_within: float = 60.0,
    ) -> Helper:
        with log.open("wb") as errors:
            process = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        pin(core, process.pid)
        helper = cls(name, process, log)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), ready_within)
        except TimeoutError:
            line = b""
        if not line:
            await helper.stop()
            raise RunFailed(f"{name} did not start:\n{helper.log_tail()}")
        helper.ready_line = line.decode().strip()
        return helper

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        return ""

    async def stop(self) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0


async def wait_for_signal() -> None:
    """Until SIGTERM or SIGINT (the helper processes' main loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
