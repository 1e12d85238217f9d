"""The `communepol` command.

Each subcommand parses its arguments, opens what it needs, calls one service and prints the
result. Bad input — an unknown unit, a malformed phone, a wrong role, a bad setting — ends with
one ``communepol: error: …`` line and a non-zero exit, never a traceback, and writes nothing.

Exit codes: 0 done · 1 refused (conflict, permission) · 2 bad input or bad setting ·
3 a dependency (the database) is unavailable · 70 an internal error (logged).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from communepol import __version__
from communepol.crypto import Keyring
from communepol.db.orm import (
    applied_migrations,
    migrate,
    open_database,
    require_current_schema,
    unapplied_migrations,
)
from communepol.errors import (
    CommunepolError,
    NotFound,
    SettingsError,
    Unavailable,
    ValidationError,
)
from communepol.settings import Settings

log = logging.getLogger("communepol")

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]

EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2
EXIT_UNAVAILABLE = 3
EXIT_INTERNAL = 70


def _out(line: str = "") -> None:
    print(line, flush=True)


# Loggers that print SQL with its parameters at DEBUG: parameters carry tip text and other
# residents' data, so they never go below INFO, whatever COMMUNEPOL_LOG_LEVEL says.
SQL_LOGGERS = ("tortoise", "aiosqlite", "asyncpg")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    for name in SQL_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.INFO))


def _local(moment: datetime, settings: Settings) -> str:
    """A time for the operator: in the people's timezone, with the zone named."""
    return f"{moment.astimezone(settings.tz):%Y-%m-%d %H:%M} {settings.timezone}"


def _exit_code(err: CommunepolError) -> int:
    if isinstance(err, (ValidationError, NotFound, SettingsError)):
        return EXIT_BAD_INPUT
    if isinstance(err, Unavailable):
        return EXIT_UNAVAILABLE
    return EXIT_REFUSED


@contextlib.asynccontextmanager
async def _current_database(settings: Settings) -> AsyncIterator[None]:
    """The database, for commands that read or write data: refused when migrations pend."""
    async with open_database(settings.database_url) as ctx:
        await require_current_schema(ctx)
        yield


# --- db -------------------------------------------------------------------------------------


async def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.database_url, create=True) as ctx:
        steps = await migrate(ctx, args.target)
        for step in steps:
            _out(("applied   " if step.startswith("+") else "unapplied ") + step[1:])
        _out(f"database is at {', '.join(await applied_migrations(ctx)) or 'zero'}")
    return 0


async def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    async with open_database(settings.database_url) as ctx:
        applied = await applied_migrations(ctx)
        pending = await unapplied_migrations(ctx)
    for name in applied:
        _out(f"[x] {name}")
    for name in pending:
        _out(f"[ ] {name}")
    return 0 if not pending else EXIT_REFUSED


# --- units ----------------------------------------------------------------------------------


async def cmd_units_import(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.units import import_units

    async with _current_database(settings):
        result = await import_units(args.province)
    _out(str(result))
    return 0


async def cmd_units_search(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import Unit, UnitLevel
    from communepol.services.units import search_units

    level = UnitLevel(args.level) if args.level else None
    async with _current_database(settings):
        units = await search_units(args.query, level=level, limit=args.limit)
        await Unit.fetch_for_list(units, "parent")
        for unit in units:
            parent = f"  ({unit.parent.name})" if unit.parent else ""
            _out(f"{unit.code or '-':>6}  {unit.name}{parent}")
    if not units:
        _out("no unit matches")
        return EXIT_REFUSED
    return 0


async def cmd_units_add_hamlet(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import UnitLevel
    from communepol.services.units import add_hamlet, resolve_unit

    async with _current_database(settings):
        commune = await resolve_unit(args.commune, level=UnitLevel.COMMUNE)
        hamlet = await add_hamlet(commune, args.name, kind=args.kind)
    _out(f"{hamlet.name} added under {commune.name}")
    return 0


# --- staff ----------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if sys.stdin.isatty():
        first = getpass.getpass("Password (empty: generate one): ")
        if first and getpass.getpass("Again: ") != first:
            raise ValidationError("the two passwords differ", field="password")
        return first or None
    return None


async def cmd_admin_create(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import Role, UnitLevel
    from communepol.services.staff import add_staff, generate_password
    from communepol.services.units import resolve_unit

    password = _read_password(args)
    generated = password is None
    password = password or generate_password()
    async with _current_database(settings):
        unit = await resolve_unit(args.unit, level=UnitLevel.PROVINCE)
        enrolment = await add_staff(
            Keyring(settings.secret_key),
            full_name=args.name,
            unit=unit,
            role=Role.ADMIN,
            phone=args.phone,
            username=args.username,
            password=password,
        )
    expires = enrolment.link_code_expires_at
    _out(f"admin {enrolment.staff.username} created for {unit.name}")
    if generated:
        _out(f"password: {password}")
    _out(f"bot link code: {enrolment.link_code} (valid until {_local(expires, settings)})")
    return 0


async def cmd_staff_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.staff import add_staff, parse_role
    from communepol.services.units import resolve_unit

    role = parse_role(args.role)
    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        enrolment = await add_staff(
            Keyring(settings.secret_key),
            full_name=args.name,
            unit=unit,
            role=role,
            phone=args.phone,
        )
    _out(f"{enrolment.staff.full_name} is on the roster of {unit.name} as {role.value}")
    _out(
        f"one-time link code: {enrolment.link_code} (send it to the bot; "
        f"valid until {_local(enrolment.link_code_expires_at, settings)})"
    )
    return 0


# --- i18n -----------------------------------------------------------------------------------


async def cmd_i18n_update(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.catalogs import update_catalogs

    _out(str(update_catalogs(args.root)))
    return 0


async def cmd_i18n_check(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.catalogs import check_catalogs

    problems = check_catalogs(args.root)
    for line in problems:
        _out(line)
    if problems:
        _out(
            "translation catalogs need work: run `make i18n`, then translate "
            "locales/vi/LC_MESSAGES/messages.po"
        )
        return EXIT_REFUSED
    _out("catalogs are up to date")
    return 0


# --- serve and demo -------------------------------------------------------------------------


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.app import create_app

    settings = _with_listen(settings, args)
    if args.migrate:
        async with open_database(settings.database_url, create=True) as ctx:
            await migrate(ctx)
    await _serve(create_app(settings), settings)
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.app import create_app
    from communepol.services.demo import build_demo, demo_database_url

    settings = _with_listen(settings, args)
    if "COMMUNEPOL_DATABASE_URL" not in os.environ:
        settings = dataclasses.replace(settings, database_url=demo_database_url(Path.cwd()))
    if "COMMUNEPOL_PUBLIC_BASE_URL" not in os.environ:
        # Print the URLs the demo actually answers on.
        base = f"http://{settings.host}:{settings.port}"
        settings = dataclasses.replace(settings, public_base_url=base)
    report = await build_demo(settings)
    for line in report.lines():
        _out(line)
    if args.no_serve:
        return 0
    await _serve(create_app(settings), settings)
    return 0


def _with_listen(settings: Settings, args: argparse.Namespace) -> Settings:
    changes: dict[str, Any] = {}
    if args.host:
        changes["host"] = args.host
    if args.port:
        changes["port"] = args.port
    return dataclasses.replace(settings, **changes) if changes else settings


async def _serve(app: Any, settings: Settings) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise Unavailable(
            f"cannot listen on {settings.host}:{settings.port}: {err.strerror or err}"
        ) from err
    _out(f"serving on http://{settings.host}:{settings.port}/  (Ctrl+C to stop)")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


# --- the parser -----------------------------------------------------------------------------


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="communepol",
        description="Commune police pages, groups, shared household accounts and tips.",
        epilog="Configuration comes from COMMUNEPOL_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"communepol {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(parent: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text
        )
        sub.set_defaults(func=func)
        return sub

    def group(name: str, help_text: str) -> Any:
        """A command with subcommands, e.g. `communepol db …`."""
        parent = commands.add_parser(name, help=help_text, description=help_text)
        return parent.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    def listen_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--host", help="address to listen on (default COMMUNEPOL_HOST)")
        sub.add_argument("--port", type=_port, help="port to listen on (default COMMUNEPOL_PORT)")

    serve = add(
        commands, "serve", cmd_serve, "Run the service: the web, the health and metrics endpoints."
    )
    listen_options(serve)
    serve.add_argument(
        "--migrate", action="store_true", help="apply pending migrations before serving"
    )

    demo = add(
        commands,
        "demo",
        cmd_demo,
        "Build a demo of Đắk Lắk (real units, pages, staff, households, posts) and serve it.",
    )
    listen_options(demo)
    demo.add_argument("--no-serve", action="store_true", help="build the demo data and stop")

    db_commands = group("db", "Database schema.")
    db_migrate = add(db_commands, "migrate", cmd_db_migrate, "Apply (or unapply) migrations.")
    db_migrate.add_argument(
        "--target", help="a migration name to move to, or 'zero' to unapply everything"
    )
    add(db_commands, "status", cmd_db_status, "List applied and pending migrations.")

    unit_commands = group("units", "Administrative units.")
    units_import = add(
        unit_commands,
        "import",
        cmd_units_import,
        "Load Vietnam's 2025 provinces and communes (idempotent).",
    )
    units_import.add_argument(
        "--province", metavar="NAME|CODE", help="only this province, e.g. 'dak lak' or 66"
    )
    units_search = add(unit_commands, "search", cmd_units_search, "Find units by name.")
    units_search.add_argument("query", help="a name in any accent or case, e.g. 'cu mgar'")
    units_search.add_argument("--level", choices=["province", "district", "commune", "hamlet"])
    units_search.add_argument("--limit", type=int, default=10)

    add_hamlet = add(
        unit_commands,
        "add-hamlet",
        cmd_units_add_hamlet,
        "Add a hamlet (thôn, buôn, tổ dân phố …) under a commune.",
    )
    add_hamlet.add_argument("--commune", required=True, help="commune code or name")
    add_hamlet.add_argument("--name", required=True, help="hamlet name, e.g. 'Ea Sinh'")
    add_hamlet.add_argument(
        "--kind", default="Thôn", help="Thôn (default), Buôn, Tổ dân phố, Ấp, Bản, Làng …"
    )

    admin_commands = group("admin", "Administrators.")
    admin_create = add(
        admin_commands, "create", cmd_admin_create, "Create an administrator with a web login."
    )
    admin_create.add_argument("--username", required=True)
    admin_create.add_argument("--name", required=True, help="full name")
    admin_create.add_argument("--unit", required=True, help="province (name or code)")
    admin_create.add_argument("--phone")
    admin_create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    staff_commands = group("staff", "The roster.")
    staff_add = add(
        staff_commands,
        "add",
        cmd_staff_add,
        "Put a person on the roster of a unit with a role; prints a one-time link code.",
    )
    staff_add.add_argument("--unit", required=True, help="unit code or name, e.g. 'ea kar'")
    staff_add.add_argument("--role", required=True, help="officer, supervisor or admin")
    staff_add.add_argument("--name", required=True, help="full name")
    staff_add.add_argument("--phone", help="Vietnamese phone number, e.g. 0912 345 678")

    i18n_commands = group("i18n", "Translation catalogs.")
    root = Path(__file__).resolve().parent.parent
    for name, func, text in (
        ("update", cmd_i18n_update, "Extract messages, update the vi/en catalogs, compile."),
        ("check", cmd_i18n_check, "Fail when locales/messages.pot is stale."),
    ):
        sub = add(i18n_commands, name, func, text)
        sub.add_argument("--root", type=Path, default=root, help=argparse.SUPPRESS)
        sub.set_defaults(needs_settings=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # Commands that touch no database or secret (i18n) run without configuration.
        settings = (
            Settings.from_env()
            if getattr(args, "needs_settings", True)
            else Settings(secret_key="-" * 32)
        )
    except SettingsError as err:
        print(f"communepol: error: {err.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(settings.log_level)
    try:
        return asyncio.run(args.func(args, settings))
    except CommunepolError as err:
        print(f"communepol: error: {err.message}", file=sys.stderr)
        return _exit_code(err)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last line of defence: one line, details in the log
        log.debug("internal error", exc_info=True)
        print(
            f"communepol: internal error: {type(err).__name__} "
            "(run with COMMUNEPOL_LOG_LEVEL=DEBUG for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
