"""Benchmark Telegram webhook intake: updates per second verified and durably stored, against a
bare aiohttp endpoint that only parses the same JSON — same load, same run.

Run ``.venv/bin/python bench/intake.py`` (SQLite), add ``--postgres
postgres://postgres@127.0.0.1:5432/postgres`` to measure a temporary PostgreSQL database too
(dropped afterwards), ``--quick`` for a smoke run of a few seconds.

Three kinds of process, so that no two share an event loop: the server under test (the bare
endpoint, then the real service — ``create_app(settings, run_workers=False)`` on a fresh
migrated database with one Telegram account and its webhook secret), pinned to the first core;
the load generator, pinned to the second; and this script, which sets up, starts and stops
them and checks afterwards that ``inbound_event`` holds exactly one row per 200 answer. The
load generator keeps ``--connections`` keep-alive connections busy, each POSTing a realistic
text update with a unique ``update_id`` as soon as its previous one is answered, for a warm-up
and then the measured window; it reports requests per second answered in the window, p50/p99
latency, non-2xx answers, and the CPU it and the server used (a load generator near 100 %
would mean it, not the server, was the limit). ``--client raw`` (default) speaks HTTP/1.1 over
asyncio directly, which costs a fraction of ``--client aiohttp``'s CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from benchlib import (
    SECRET_KEY,
    Helper,
    RunFailed,
    cores,
    cpu_seconds,
    machine_line,
    number,
    percentile,
    pin,
    postgres_version,
    telegram_account,
    telegram_fakes,
    temporary_databases,
    wait_for_signal,
)

from communepol.db.models import InboundEvent
from communepol.db.orm import open_database

TARGET_RATIO = 0.30
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/webhooks/telegram/{account_id}"
TEXT = (
    "Chào anh chị, tối qua ở thôn 3 xã Cư M'gar có người gọi điện tự xưng công an, đòi chuyển "
    "tiền để 'xác minh tài khoản'. Tôi nên báo cho ai ạ?"
)
_SENTINEL = 987_654_321_012_345  # stands for the update_id in the pre-encoded bodies


# -- the servers (child processes) ------------------------------------------------------------


async def _serve(app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"ready {port}", flush=True)
    try:
        await wait_for_signal()
    finally:
        await runner.cleanup()


async def _bare_receive(request: web.Request) -> web.Response:
    json.loads(await request.read())
    return web.json_response({})


def bare_app() -> web.Application:
    app = web.Application()
    app.router.add_post(WEBHOOK_PATH, _bare_receive)
    return app


def service_app(database_url: str, data_dir: Path) -> web.Application:
    from communepol.app import create_app
    from communepol.settings import Settings

    settings = Settings(
        secret_key=SECRET_KEY,
        database_url=database_url,
        data_dir=data_dir,
        log_level="WARNING",
        telegram_api_base="http://127.0.0.1:9",  # never called: no workers run
    )
    return create_app(settings, run_workers=False)


# -- the load generator (a child process) -----------------------------------------------------


@dataclass
class Tally:
    measure_from: float
    measure_until: float
    ok: int = 0
    other: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def record(self, status: int, started: float, finished: float) -> None:
        if status == 200:
            self.ok += 1
        else:
            self.other[status] += 1
        if self.measure_from <= finished < self.measure_until:
            self.latencies.append(finished - started)


class Bodies:
    """Realistic text updates from ``users`` people, each with a fresh ``update_id``."""

    def __init__(self, users: int, first_id: int = 1) -> None:
        text_update = telegram_fakes().text_update
        self._templates: list[tuple[bytes, bytes]] = []
        for n in range(users):
            update = text_update(
                _SENTINEL, 700_000_000 + n, TEXT, first_name="Hương", message_id=n + 1
            )
            encoded = json.dumps(update, ensure_ascii=False).encode()
            prefix, _, suffix = encoded.partition(str(_SENTINEL).encode())
            self._templates.append((prefix, suffix))
        self._ids = itertools.count(first_id)

    def next(self) -> bytes:
        update_id = next(self._ids)
        prefix, suffix = self._templates[update_id % len(self._templates)]
        return prefix + str(update_id).encode() + suffix


class ProtocolError(Exception):
    pass


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, answers with Content-Length
    (as aiohttp's servers send them)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter.set_exception(ProtocolError("an answer without Content-Length"))
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        del self.buffer[:total]
        waiter.set_result((int(head[9:12]), b"\r\nconnection: close" in head))

    async def request(self, data: bytes) -> tuple[int, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


async def _raw_worker(
    port: int, path: str, secret: str, bodies: Bodies, tally: Tally, until: float
) -> None:
    loop = asyncio.get_running_loop()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{SECRET_HEADER}: {secret}\r\nContent-Length: "
    ).encode()
    conn: _Connection | None = None
    while time.perf_counter() < until:
        if conn is None or conn.lost:
            _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
        body = bodies.next()
        started = time.perf_counter()
        try:
            status, close = await conn.request(head + b"%d\r\n\r\n" % len(body) + body)
        except (OSError, ProtocolError, ValueError):
            tally.errors += 1
            if conn.transport is not None:
                conn.transport.close()
            conn = None
            continue
        tally.record(status, started, time.perf_counter())
        if close and conn.transport is not None:
            conn.transport.close()
            conn = None
    if conn is not None and conn.transport is not None:
        conn.transport.close()


async def _aiohttp_worker(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    bodies: Bodies,
    tally: Tally,
    until: float,
) -> None:
    headers = {"Content-Type": "application/json", SECRET_HEADER: secret}
    while time.perf_counter() < until:
        body = bodies.next()
        started = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError):
            tally.errors += 1
            continue
        tally.record(status, started, time.perf_counter())


async def generate_load(args: argparse.Namespace) -> dict[str, Any]:
    bodies = Bodies(args.users, args.first_id)
    path = WEBHOOK_PATH.format(account_id=args.account)
    began = time.perf_counter()
    tally = Tally(began + args.warmup, began + args.warmup + args.duration)
    until = tally.measure_until
    cpu: dict[str, float] = {}

    async def sample_cpu() -> None:
        await asyncio.sleep(max(0.0, tally.measure_from - time.perf_counter()))
        cpu["load"], cpu["server"] = time.process_time(), cpu_seconds(args.server_pid)
        await asyncio.sleep(max(0.0, until - time.perf_counter()))
        cpu["load"] = time.process_time() - cpu["load"]
        cpu["server"] = cpu_seconds(args.server_pid) - cpu["server"]

    sampler = asyncio.create_task(sample_cpu())
    limit = args.warmup + args.duration + 30
    if args.client == "raw":
        workers = [
            _raw_worker(args.port, path, args.secret, bodies, tally, until)
            for _ in range(args.connections)
        ]
        await asyncio.wait_for(asyncio.gather(*workers), limit)
    else:
        connector = aiohttp.TCPConnector(limit=args.connections)
        async with aiohttp.ClientSession(connector=connector) as session:
            url = f"http://127.0.0.1:{args.port}{path}"
            workers = [
                _aiohttp_worker(session, url, args.secret, bodies, tally, until)
                for _ in range(args.connections)
            ]
            await asyncio.wait_for(asyncio.gather(*workers), limit)
    await sampler
    latencies = sorted(tally.latencies)
    return {
        "rps": len(latencies) / args.duration,
        "measured": len(latencies),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "ok": tally.ok,
        "other": {str(status): n for status, n in sorted(tally.other.items())},
        "errors": tally.errors,
        "server_cpu": cpu["server"] / args.duration,
        "load_cpu": cpu["load"] / args.duration,
    }


# -- the orchestration ------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    database: str
    load: dict[str, Any]
    stored: int | None = None
    answered: int = 0  # answers 200 so far on this database, all rounds
    bare_rps: float = 0.0  # the bare endpoint's rate measured just before this run

    @property
    def non2xx(self) -> int:
        return sum(self.load["other"].values())


async def measure(
    name: str,
    database: str,
    server_argv: list[str],
    account_id: int,
    secret: str,
    args: argparse.Namespace,
    workdir: Path,
    first_id: int = 1,
) -> Result:
    server_core, load_core = cores()
    log = workdir / f"{name}-{database}.log".replace(" ", "-")
    env = {"PYTHONUNBUFFERED": "1"}
    server = await Helper.start(
        f"{name} server",
        [*server_argv, "--core", str(server_core if server_core is not None else -1)],
        log=log,
        core=server_core,
        env=env,
    )
    try:
        port = int(server.ready_line.split()[1])
        load = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role=load",
            f"--core={load_core if load_core is not None else -1}",
            f"--port={port}",
            f"--account={account_id}",
            f"--secret={secret}",
            f"--server-pid={server.process.pid}",
            f"--connections={args.connections}",
            f"--warmup={args.warmup}",
            f"--duration={args.duration}",
            f"--users={args.users}",
            f"--client={args.client}",
            f"--first-id={first_id}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        pin(load_core, load.pid)
        out, err = await load.communicate()
        if load.returncode != 0:
            raise RunFailed(f"the load generator failed on {name}:\n{err.decode()[-3000:]}")
        if server.process.returncode is not None:
            raise RunFailed(f"the {name} server died during the run:\n{server.log_tail()}")
    finally:
        code = await server.stop()
    if code not in (0, -15):
        raise RunFailed(f"the {name} server exited with {code}:\n{server.log_tail()}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    if result["ok"] == 0:
        raise RunFailed(f"{name}: no request was answered 200 ({result}):\n{server.log_tail()}")
    return Result(name, database, result)


def _verdict(ratio: float) -> str:
    return "met" if ratio >= TARGET_RATIO else "target missed"


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"{args.connections} keep-alive connections ({args.client} client), {args.warmup:g} s "
        f"warm-up, {args.duration:g} s measured; server and load generator pinned to one core "
        "each when two exist."
    )
    print()
    print(
        "| endpoint | database | requests/s | p50 | p99 | non-2xx | errors | server CPU "
        "| load CPU | vs bare | target ≥ 0.30 |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        load = result.load
        ratio = load["rps"] / result.bare_rps if result.stored is not None else 1.0
        verdict = "" if result.stored is None else _verdict(ratio)
        print(
            f"| {result.name} | {result.database} | {number(load['rps'])} "
            f"| {load['p50_ms']:.1f} ms | {load['p99_ms']:.1f} ms | {result.non2xx} "
            f"| {load['errors']} | {load['server_cpu']:.0%} | {load['load_cpu']:.0%} "
            f"| {ratio:.2f} | {verdict} |"
        )
    print()
    services = [r for r in results if r.stored is not None]
    for database in dict.fromkeys(r.database for r in services):
        ratios = sorted(r.load["rps"] / r.bare_rps for r in services if r.database == database)
        median = ratios[len(ratios) // 2]
        print(
            f"- {database}: median ratio over {len(ratios)} paired runs {median:.2f} — "
            f"{_verdict(median)}"
        )
    for result in services:
        same = "=" if result.stored == result.answered else "≠"
        print(
            f"- {result.database}: {number(result.stored or 0)} rows in inbound_event {same} "
            f"{number(result.answered)} answers 200 so far (warm-ups included)"
        )
    for result in results:
        if result.load["other"]:
            print(f"- {result.name} {result.database}: non-2xx answers {result.load['other']}")


async def run(args: argparse.Namespace) -> int:
    _, load_core = cores()
    pin(load_core)  # this process only waits; the first core is the server's
    script = [sys.executable, __file__]
    secret = secrets.token_urlsafe(32)
    pg_version = await postgres_version(args.postgres) if args.postgres else None
    results: list[Result] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="communepol-intake-") as tmp:
        workdir = Path(tmp)
        async with temporary_databases(workdir, args.postgres) as databases:
            accounts: dict[str, int] = {}
            for label, url in databases:
                async with open_database(url):
                    accounts[label] = await telegram_account("intake", webhook_secret=secret)
            # The machine's speed drifts (other tenants), so each service run is paired with
            # a bare run right before it, and the ratio is taken per pair.
            for label, url in databases:
                for _ in range(args.rounds):
                    bare = await measure(
                        "bare aiohttp (json.loads)",
                        "—",
                        [*script, "--role=bare"],
                        accounts["SQLite"],
                        secret,
                        args,
                        workdir,
                    )
                    argv = [
                        *script,
                        "--role=service",
                        f"--database-url={url}",
                        f"--data-dir={tmp}",
                    ]
                    # Each round sends new update ids: a repeated id is a replay, stored once.
                    first_id = 1 + sum(r.load["ok"] + r.non2xx + r.load["errors"] for r in results)
                    result = await measure(
                        "service webhook",
                        label,
                        argv,
                        accounts[label],
                        secret,
                        args,
                        workdir,
                        first_id=first_id * 10,
                    )
                    result.bare_rps = bare.load["rps"]
                    async with open_database(url):
                        result.stored = await InboundEvent.filter(
                            channel_account_id=accounts[label]
                        ).count()
                    result.answered = result.load["ok"] + sum(
                        r.load["ok"] for r in results if r.database == label and r.stored
                    )
                    if result.stored != result.answered:
                        failed.append(
                            f"{label}: {result.stored} rows stored for {result.answered} "
                            "answers 200"
                        )
                    results.append(bare)
                    results.append(result)
    print_table(results, args)
    print()
    print(machine_line(pg_version))
    for line in failed:
        print(f"verification failed: {line}", file=sys.stderr)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark Telegram webhook intake.")
    parser.add_argument("--postgres", metavar="URL", help="also measure a PostgreSQL server")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    # Telegram opens at most max_connections (default 40) webhook requests at once per bot.
    parser.add_argument(
        "--connections", type=int, default=40, help="concurrent connections (40, Telegram's)"
    )
    parser.add_argument("--duration", type=float, help="measured seconds (10; quick 2)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (2; quick 1)")
    parser.add_argument("--users", type=int, default=1000, help="distinct senders (1000)")
    parser.add_argument("--client", choices=("raw", "aiohttp"), default="raw")
    parser.add_argument(
        "--rounds", type=int, help="paired bare/service runs per database (3; quick 1)"
    )
    hidden = argparse.SUPPRESS
    parser.add_argument("--role", choices=("bare", "service", "load"), help=hidden)
    parser.add_argument("--core", type=int, default=-1, help=hidden)
    parser.add_argument("--database-url", help=hidden)
    parser.add_argument("--data-dir", type=Path, help=hidden)
    parser.add_argument("--port", type=int, help=hidden)
    parser.add_argument("--account", type=int, help=hidden)
    parser.add_argument("--secret", help=hidden)
    parser.add_argument("--first-id", type=int, default=1, help=hidden)
    parser.add_argument("--server-pid", type=int, help=hidden)
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 2.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 2.0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.role is not None:
        pin(args.core if args.core >= 0 else None)
        logging.basicConfig(level=logging.WARNING)
    if args.role == "bare":
        asyncio.run(_serve(bare_app()))
    elif args.role == "service":
        asyncio.run(_serve(service_app(args.database_url, args.data_dir)))
    elif args.role == "load":
        print(json.dumps(asyncio.run(generate_load(args))), flush=True)
    else:
        try:
            code = asyncio.run(run(args))
        except RunFailed as err:
            print(f"intake benchmark failed: {err}", file=sys.stderr)
            code = 1
        sys.exit(code)


if __name__ == "__main__":
    main()
