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


async def cmd_households_import(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import UnitLevel
    from communepol.services.households import import_households
    from communepol.services.units import resolve_unit

    try:
        data = await asyncio.to_thread(Path(args.file).read_bytes)
    except OSError as err:
        raise ValidationError(f"cannot read {args.file}: {err.strerror}", field="file") from err
    async with _current_database(settings):
        commune = await resolve_unit(args.commune, level=UnitLevel.COMMUNE)
        result = await import_households(commune, data, create_hamlets=args.create_hamlets)
    for name in result.hamlets_added:
        _out(f"hamlet added: {name}")
    _out(f"{result.added} households added to {commune.name}; {len(result.bad)} rows refused")
    for row in result.bad:
        _out(f"  line {row.line}: {row.reason}")
    return 0 if not result.bad else 1


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
    from communepol.services.passwords import pwned_passwords
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
            # A generated password is random: only a typed one is worth a breach lookup.
            breaches=None if generated else pwned_passwords(settings.pwned_passwords_url),
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


async def cmd_staff_password(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.auth import set_password
    from communepol.services.passwords import pwned_passwords

    if sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise ValidationError("the two passwords differ", field="password")
    else:
        password = sys.stdin.readline().rstrip("\n")
    async with _current_database(settings):
        staff = await set_password(
            args.username, password, breaches=pwned_passwords(settings.pwned_passwords_url)
        )
    _out(f"password set for {staff.username}; their web sessions have ended")
    return 0


# --- channels -------------------------------------------------------------------------------

# The operator's names for the kinds (as in the webhook paths) and the database's.
CHANNEL_KINDS = {
    "telegram": "telegram",
    "zalo-oa": "zalo_oa",
    "zalo-bot": "zalo_bot",
    "webchat": "webchat",
}
# Where `channels add` reads each credential: environment variables keep them out of the shell
# history and the process list. The same names are the keys of --secrets-from-stdin's JSON.
CREDENTIAL_VARIABLES: dict[str, dict[str, str]] = {
    "telegram": {"token": "COMMUNEPOL_NEW_TELEGRAM_TOKEN"},
    "zalo-bot": {"token": "COMMUNEPOL_NEW_ZALO_BOT_TOKEN"},
    "zalo-oa": {
        "app_id": "COMMUNEPOL_NEW_ZALO_APP_ID",
        "app_secret": "COMMUNEPOL_NEW_ZALO_APP_SECRET",
        "oa_secret": "COMMUNEPOL_NEW_ZALO_OA_SECRET",
        "access_token": "COMMUNEPOL_NEW_ZALO_ACCESS_TOKEN",
        "refresh_token": "COMMUNEPOL_NEW_ZALO_REFRESH_TOKEN",
    },
    "webchat": {},
}


def _kind_name(kind: Any) -> str:
    """The operator's name of a `ChannelKind` (zalo_oa → zalo-oa)."""
    return str(kind.value).replace("_", "-")


def _webhook_url(settings: Settings, account: Any) -> str:
    return f"{settings.public_base_url}/webhooks/{_kind_name(account.kind)}/{account.id}"


def _read_credentials(kind: str, from_stdin: bool) -> dict[str, str]:
    """The new account's credentials, from the environment, then from a JSON object piped
    into standard input for those the environment lacks. Never echoed, not even in errors."""
    variables = CREDENTIAL_VARIABLES[kind]
    given = {
        name: os.environ[variable].strip()
        for name, variable in variables.items()
        if os.environ.get(variable, "").strip()
    }
    missing = [name for name in variables if name not in given]
    if from_stdin and not variables:
        raise ValidationError(f"a {kind} account has no credentials to read", field="secrets")
    if from_stdin and missing:
        if sys.stdin is None or sys.stdin.isatty():
            raise ValidationError(
                "--secrets-from-stdin reads a JSON object piped into standard input, "
                "not typed at a terminal",
                field="secrets",
            )
        piped = _credentials_json(sys.stdin.read(), tuple(variables))
        given.update({name: piped[name] for name in missing if name in piped})
        missing = [name for name in variables if name not in given]
    if missing:
        names = ", ".join(variables[name] for name in missing)
        raise ValidationError(
            f"missing credentials: set {names} (or pipe them as JSON with --secrets-from-stdin)",
            field="secrets",
        )
    return given


def _credentials_json(text: str, names: tuple[str, ...]) -> dict[str, str]:
    import json

    expected = ", ".join(names)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationError(
            f"standard input is not a JSON object (expected keys: {expected})", field="secrets"
        )
    if set(value) - set(names):
        raise ValidationError(
            f"standard input has unexpected keys (expected keys: {expected})", field="secrets"
        )
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(item, str):
            raise ValidationError(f"{name} in standard input must be a string", field=name)
        if item.strip():
            result[name] = item.strip()
    return result


async def cmd_channels_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import ChannelKind, ReceiveMode
    from communepol.services.channels import (
        add_channel_account,
        check_receive_mode,
        new_account_secrets,
    )

    kind = ChannelKind(CHANNEL_KINDS[args.kind])
    mode = ReceiveMode.POLLING if args.polling else ReceiveMode.WEBHOOK
    # Everything that needs no database is checked first.
    check_receive_mode(kind, mode)
    secrets = new_account_secrets(kind, _read_credentials(args.kind, args.secrets_from_stdin))
    async with _current_database(settings):
        account = await add_channel_account(
            Keyring(settings.secret_key),
            kind=kind,
            name=args.name,
            secrets=secrets or None,
            page_slugs=args.page or (),
            receive_mode=mode,
        )
    head = f'added {args.kind} account {account.id} "{account.name}"'
    if kind is ChannelKind.WEBCHAT:
        _out(head)
    elif kind is ChannelKind.ZALO_OA:
        _out(
            f"{head} (webhook to paste in the Zalo developer console: "
            f"{_webhook_url(settings, account)})"
        )
    elif mode is ReceiveMode.POLLING:
        _out(f"{head} (polling)")
    else:
        _out(f"{head} (webhook: {_webhook_url(settings, account)})")
    return 0


async def cmd_channels_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.channels import list_channel_accounts

    async with _current_database(settings):
        accounts = await list_channel_accounts()
    if not accounts:
        _out("no channel accounts (add one with `communepol channels add`)")
        return 0
    rows = [("ID", "KIND", "NAME", "STATUS", "RECEIVES", "PAGES", "LAST ERROR")]
    for item in accounts:
        rows.append(
            (
                str(item.id),
                _kind_name(item.kind),
                item.name,
                item.status.value,
                item.receive_mode.value,
                ",".join(item.page_slugs) or "-",
                " ".join((item.last_error or "-").split()),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        _out("  ".join([*cells, row[-1]]).rstrip())
    return 0


async def _channel_webhook(args: argparse.Namespace, settings: Settings, *, remove: bool) -> int:
    from bots.registry import channel_factory
    from communepol.db.models import ChannelKind, ReceiveMode
    from communepol.ports import Pollable, SendError
    from communepol.services.channels import (
        AccountSecrets,
        get_channel_account,
        open_secrets,
    )
    from communepol.web.chathub import WebchatHub

    keyring = Keyring(settings.secret_key)
    async with _current_database(settings):
        account = await get_channel_account(args.id)
        label = f"{_kind_name(account.kind)} account {account.id}"
        url = _webhook_url(settings, account)
        if account.kind is ChannelKind.ZALO_OA:
            return _refused(
                f"the webhook of {label} is set in the Zalo developer console, not here: "
                f"paste {url} there"
            )
        if account.kind is ChannelKind.WEBCHAT:
            return _refused(f"{label} is the built-in web chat: it has no platform webhook")
        if not remove and account.receive_mode is ReceiveMode.POLLING:
            return _refused(
                f"{label} receives by polling; switch it first: "
                f"communepol channels mode {account.id} webhook"
            )
        if not remove and settings.is_production and not url.startswith("https://"):
            return _refused(
                f"the platform needs an https webhook URL; COMMUNEPOL_PUBLIC_BASE_URL is "
                f"{settings.public_base_url}"
            )
        channel = channel_factory(settings, WebchatHub())(
            account, open_secrets(keyring, account), AccountSecrets(keyring, account.id)
        )
        try:
            if not isinstance(channel, Pollable):
                return _refused(f"the webhook of {label} cannot be set through its platform")
            try:
                if remove:
                    await channel.remove_webhook()
                else:
                    await channel.set_webhook(url)
            except SendError as err:
                action = "removing" if remove else "setting"
                raise Unavailable(
                    f"{action} the webhook of {label} failed: {err.message}"
                ) from None
        finally:
            await channel.close()
    _out(f"webhook of {label} removed" if remove else f"webhook of {label} set to {url}")
    return 0


async def cmd_channels_webhook_set(args: argparse.Namespace, settings: Settings) -> int:
    return await _channel_webhook(args, settings, remove=False)


async def cmd_channels_webhook_remove(args: argparse.Namespace, settings: Settings) -> int:
    return await _channel_webhook(args, settings, remove=True)


async def cmd_channels_mode(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import ReceiveMode
    from communepol.services.channels import set_receive_mode

    mode = ReceiveMode(args.mode)
    async with _current_database(settings):
        account, changed = await set_receive_mode(args.id, mode)
    label = f"{_kind_name(account.kind)} account {account.id}"
    if not changed:
        _out(f"{label} already receives by {mode.value}")
    elif mode is ReceiveMode.POLLING:
        _out(
            f"{label} now receives by polling (remove its webhook so the platform hands out "
            f"updates: communepol channels webhook remove {account.id})"
        )
    else:
        _out(
            f"{label} now receives by webhook (point the platform at it: "
            f"communepol channels webhook set {account.id})"
        )
    return 0


async def cmd_channels_status(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import ChannelStatus
    from communepol.services.channels import set_status

    status = ChannelStatus.ACTIVE if args.command_name == "activate" else ChannelStatus.PAUSED
    async with _current_database(settings):
        account, changed = await set_status(args.id, status)
    label = f"{_kind_name(account.kind)} account {account.id}"
    _out(f"{label} is {'now' if changed else 'already'} {status.value}")
    return 0


async def cmd_channels_quota(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.channels import get_channel_account
    from communepol.services.pagesadmin import set_promotion_quota

    async with _current_database(settings):
        account = await get_channel_account(args.id)
        changed = await set_promotion_quota(account, args.quota)
    label = f"{_kind_name(account.kind)} account {account.id}"
    when = "now" if changed else "already"
    if args.quota is None:
        _out(f"{label} {when} sends promotion messages without a monthly limit")
    else:
        _out(f"{label} is {when} limited to {args.quota} promotion messages a month")
    return 0


# --- inbox and outbox -----------------------------------------------------------------------
# What the bot channel gave up on, for staff to see and retry. Only ids, kinds, statuses,
# times, attempt counts and the stored error line are printed: never a payload, a platform id,
# message text or whose a row is.


def _table(rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> None:
    """Print ``rows`` (the first is the header) in columns; ``right`` are the numeric ones."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        _out("  ".join(cells).rstrip())


def _account_label(account_id: int, kind: Any) -> str:
    return f"{account_id} {_kind_name(kind)}"


def _when(moment: datetime, settings: Settings) -> str:
    return f"{moment.astimezone(settings.tz):%Y-%m-%d %H:%M}"


def _error_line(text: str | None) -> str:
    return " ".join((text or "-").split())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _retry_ids(args: argparse.Namespace, every: str) -> list[int] | None:
    """The ids to retry, in order and once each, or None when the flag ``every`` (retry them
    all) is given; both or neither is bad input."""
    flag = "--" + every.replace("_", "-")
    if args.ids and getattr(args, every):
        raise ValidationError(f"give ids or {flag}, not both", field="ids")
    if not args.ids and not getattr(args, every):
        raise ValidationError(f"give the ids to retry, or {flag}", field="ids")
    return list(dict.fromkeys(args.ids)) if args.ids else None


def _report_retry(
    retried: int, skipped: dict[int, str | None], *, what: str, row: str, done: str
) -> int:
    """`… retry`'s report: how many went back, which asked-for ids did not and why; exit 1
    when none did."""
    reasons = ", ".join(
        f"{item} ({status})" if status else f"{item} (no such {row})"
        for item, status in skipped.items()
    )
    if not retried:
        message = f"nothing retried (only {what}s can be): {reasons}" if reasons else ""
        return _refused(message or f"no {what}s to retry")
    _out(f"{_plural(retried, what)} {done}")
    if reasons:
        _out(f"not retried (only {what}s can be): {reasons}")
    return 0


def _more_rows(shown: int, more: bool) -> None:
    if more:
        _out(f"(the newest {shown} only; see more with --limit)")


async def cmd_inbox_parked(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.inbox import parked_events

    async with _current_database(settings):
        events = await parked_events(limit=args.limit + 1)
    if not events:
        _out("no parked events")
        return 0
    rows = [
        (
            "ID",
            "ACCOUNT",
            "EVENT",
            "ATTEMPTS",
            f"RECEIVED ({settings.timezone})",
            "LAST ERROR",
        )
    ]
    for event in events[: args.limit]:
        rows.append(
            (
                str(event.id),
                _account_label(event.channel_account_id, event.channel_kind),
                event.event_kind,
                str(event.attempts),
                _when(event.received_at, settings),
                _error_line(event.last_error),
            )
        )
    _table(rows, right=(0, 3))
    _more_rows(args.limit, len(events) > args.limit)
    return 0


async def cmd_inbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.inbox import retry_all_parked, retry_parked_events

    ids = _retry_ids(args, "all")
    skipped: dict[int, str | None] = {}
    async with _current_database(settings):
        if ids is None:
            retried = await retry_all_parked()
        else:
            ready, skipped = await retry_parked_events(ids)
            retried = len(ready)
    return _report_retry(
        retried, skipped, what="parked event", row="event", done="sent through again"
    )


async def cmd_outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.db.models import DeliveryStatus
    from communepol.services.channels import get_channel_account, list_channel_accounts
    from communepol.services.outbox import counts_by_account

    async with _current_database(settings):
        if args.account is None:
            accounts = [(item.id, item.kind) for item in await list_channel_accounts()]
        else:
            account = await get_channel_account(args.account)
            accounts = [(account.id, account.kind)]
        counts = await counts_by_account(args.account)
    statuses = [status.value for status in DeliveryStatus]
    columns = [
        (_account_label(account_id, kind), counts.get(account_id, {}))
        for account_id, kind in accounts
    ]
    if args.account is None:
        total = {status: sum(c.get(status, 0) for c in counts.values()) for status in statuses}
        columns.insert(0, ("ALL", total))
    rows = [("STATUS", *(label for label, _ in columns))]
    for status in statuses:
        rows.append((status, *(str(c.get(status, 0)) for _, c in columns)))
    _table(rows, right=range(1, len(columns) + 1))
    return 0


async def cmd_outbox_dead(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.channels import get_channel_account
    from communepol.services.outbox import dead_letters

    async with _current_database(settings):
        if args.account is not None:
            await get_channel_account(args.account)
        stuck = await dead_letters(limit=args.limit + 1, account_id=args.account)
    if not stuck:
        _out("no dead or quota-blocked deliveries")
        return 0
    rows = [
        (
            "ID",
            "ACCOUNT",
            "KIND",
            "STATUS",
            "ATTEMPTS",
            f"CREATED ({settings.timezone})",
            "LAST ERROR",
        )
    ]
    for item in stuck[: args.limit]:
        rows.append(
            (
                str(item.id),
                _account_label(item.channel_account_id, item.channel_kind),
                item.kind.value,
                item.status.value,
                str(item.attempts),
                _when(item.created_at, settings),
                _error_line(item.last_error),
            )
        )
    _table(rows, right=(0, 4))
    _more_rows(args.limit, len(stuck) > args.limit)
    return 0


async def cmd_outbox_retry(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.channels import get_channel_account
    from communepol.services.outbox import retry_all_dead, retry_dead_letters

    ids = _retry_ids(args, "all_dead")
    if ids is not None and args.account is not None:
        raise ValidationError("--account goes with --all-dead, not with ids", field="account")
    skipped: dict[int, str | None] = {}
    async with _current_database(settings):
        if ids is None:
            if args.account is not None:
                await get_channel_account(args.account)
            retried = await retry_all_dead(args.account)
        else:
            ready, skipped = await retry_dead_letters(ids)
            retried = len(ready)
    return _report_retry(
        retried, skipped, what="dead letter", row="delivery", done="back in the queue"
    )


def _refused(message: str) -> int:
    print(f"communepol: error: {message}", file=sys.stderr)
    return EXIT_REFUSED


# --- pages and posts ------------------------------------------------------------------------
# Staff create and run pages here until the admin web does; both go through
# services.pagesadmin, which acts as an administrator (no staff scope) and records each change
# in the audit trail as "cli".


def _unit_label(name: str, code: str | None) -> str:
    return f"{name} ({code})" if code else name


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


async def cmd_pages_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import create_page
    from communepol.services.units import resolve_unit

    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        page = await create_page(
            unit,
            slug=args.slug,
            title=args.title,
            description=args.description or "",
            default_locale=args.locale,
            approval_categories=args.approval or (),
        )
    _out(f'added page {page.slug} "{page.title}" for {_unit_label(unit.name, unit.code)}')
    _out(f"public page: {settings.public_base_url}/p/{page.slug}")
    return 0


async def cmd_pages_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import list_pages
    from communepol.services.units import resolve_unit

    async with _current_database(settings):
        within = await resolve_unit(args.within) if args.within else None
        pages = await list_pages(within)
    if not pages:
        if within is not None:
            _out(f"no pages in {_unit_label(within.name, within.code)}")
        else:
            _out("no pages (add one with `communepol pages add`)")
        return 0
    rows = [("SLUG", "UNIT", "FOLLOWERS", "CHANNELS", "ACTIVE", "TITLE")]
    for item in pages:
        rows.append(
            (
                item.slug,
                _unit_label(item.unit_name, item.unit_code),
                str(item.followers),
                ",".join(_kind_name(kind) for kind in item.channel_kinds) or "-",
                _yes(item.active),
                item.title,
            )
        )
    _table(rows, right=(2,))
    return 0


async def cmd_pages_show(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.followlinks import follow_links
    from communepol.services.pagesadmin import page_details

    async with _current_database(settings):
        details = await page_details(args.slug)
        page = details.page
        # An inactive page cannot be followed: it has no links to print.
        links = (
            (await follow_links(page.slug, settings.public_base_url)).links if page.active else []
        )
    fields = [
        ("slug", page.slug),
        ("title", page.title),
        ("unit", _unit_label(page.unit.name, page.unit.code)),
        ("language", page.default_locale),
        ("approval", ", ".join(page.approval_categories or []) or "-"),
        ("active", _yes(page.active)),
        ("followers", str(details.followers)),
        ("created", _local(page.created_at, settings)),
        ("description", _one_line(page.description, 100) or "-"),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        _out(f"{name.ljust(width)}  {value}")
    if details.accounts:
        _out("channels:")
        _table(
            [
                (f"  {item.id}", _kind_name(item.kind), item.status.value, item.name)
                for item in details.accounts
            ],
            right=(0,),
        )
    else:
        _out(f"channels: none (add one: communepol pages channel add {page.slug} ACCOUNT_ID)")
    if links:
        _out("follow links:")
        _table([(f"  {link.label}", link.url) for link in links])
    else:
        _out("follow links: none (the page is inactive)")
    return 0


async def _page_channel(args: argparse.Namespace, settings: Settings, *, remove: bool) -> int:
    from communepol.services.channels import get_channel_account
    from communepol.services.pagesadmin import attach_channel, detach_channel, get_page

    async with _current_database(settings):
        page = await get_page(args.slug)
        account = await get_channel_account(args.id)
        if remove:
            changed = await detach_channel(page, account)
        else:
            changed = await attach_channel(page, account)
    label = f"{_kind_name(account.kind)} account {account.id}"
    if remove:
        _out(f"{label} {'no longer carries' if changed else 'does not carry'} page {page.slug}")
    else:
        _out(f"{label} {'now carries' if changed else 'already carries'} page {page.slug}")
    return 0


async def cmd_pages_channel_add(args: argparse.Namespace, settings: Settings) -> int:
    return await _page_channel(args, settings, remove=False)


async def cmd_pages_channel_remove(args: argparse.Namespace, settings: Settings) -> int:
    return await _page_channel(args, settings, remove=True)


# What `pages set` prints for each changed field.
_PAGE_FIELDS = {
    "title": "title",
    "description": "description",
    "approval_categories": "approval categories",
}


async def cmd_pages_set(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import get_page, update_page

    approval = [] if args.no_approval else args.approval
    active = None if args.active is None else args.active == "yes"
    if (args.title, args.description, approval, active) == (None, None, None, None):
        raise ValidationError(
            "nothing to change: give --title, --description, --approval, --no-approval or --active",
            field="page",
        )
    async with _current_database(settings):
        page = await get_page(args.slug)
        changed = await update_page(
            page,
            title=args.title,
            description=args.description,
            approval_categories=approval,
            active=active,
        )
    if not changed:
        _out(f"page {page.slug} is unchanged")
        return 0
    names = [
        f"active: {_yes(page.active)}" if name == "active" else _PAGE_FIELDS[name]
        for name in changed
    ]
    _out(f"page {page.slug} updated: {', '.join(names)}")
    return 0


def _schedule(row: Any) -> str:
    return f"cron {row.cron}" if row.schedule.value == "cron" and row.cron else row.schedule.value


def _not_sent(by_status: dict[str, int]) -> int:
    return sum(by_status.get(status, 0) for status in NOT_SENT)


# Delivery statuses that end without a send: `posts list` adds them up, `posts stats` splits.
NOT_SENT = ("dead", "unreachable", "quota_blocked", "cancelled")


async def cmd_posts_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import get_page, page_posts

    async with _current_database(settings):
        page = await get_page(args.slug)
        posts = await page_posts(page, args.limit + 1)
    if not posts:
        _out(f"no posts on page {page.slug}")
        return 0
    rows = [
        (
            "ID",
            "CATEGORY",
            "STATUS",
            "SCHEDULE",
            f"NEXT ({settings.timezone})",
            f"PUBLISHED ({settings.timezone})",
            "PUBLICATION",
            "RECIPIENTS",
            "QUEUED",
            "SENT",
            "NOT SENT",
            "TITLE",
        )
    ]
    for post in posts[: args.limit]:
        latest = post.latest
        counts = (
            (
                f"{latest.publication_id} {latest.status.value}",
                str(latest.recipients),
                str(latest.queued),
                str(latest.by_status.get("sent", 0)),
                str(_not_sent(latest.by_status)),
            )
            if latest is not None
            else ("-", "-", "-", "-", "-")
        )
        rows.append(
            (
                str(post.id),
                post.category.value,
                post.status.value,
                _schedule(post),
                _when(post.next_run_at, settings) if post.next_run_at else "-",
                _when(post.published_at, settings) if post.published_at else "-",
                *counts,
                _one_line(post.title, 60) or "-",
            )
        )
    _table(rows, right=(0, 7, 8, 9, 10))
    _more_rows(args.limit, len(posts) > args.limit)
    return 0


async def cmd_posts_stats(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import post_stats

    async with _current_database(settings):
        post, publications = await post_stats(args.id)
    _out(f"post {post.id} on page {post.page.slug}: {post.category.value}, {post.status.value}")
    if not publications:
        _out("not published yet")
        return 0
    rows: list[tuple[str, ...]] = [
        (
            "PUBLICATION",
            "STATUS",
            f"OCCURRENCE ({settings.timezone})",
            "RECIPIENTS",
            "QUEUED",
            "SENT",
            "DEAD",
            "UNREACHABLE",
            "QUOTA_BLOCKED",
            "CANCELLED",
            "READ",
        )
    ]
    for item in publications:
        rows.append(
            (
                str(item.publication_id),
                item.status.value,
                _when(item.occurrence_at, settings),
                str(item.recipients),
                str(item.queued),
                *(str(item.by_status.get(status, 0)) for status in ("sent", *NOT_SENT)),
                str(item.read),
            )
        )
    _table(rows, right=(0, *range(3, 11)))
    return 0


async def cmd_posts_stop(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.pagesadmin import stop_publication

    async with _current_database(settings):
        cancelled = await stop_publication(args.id)
    unsent = "1 unsent delivery" if cancelled == 1 else f"{cancelled} unsent deliveries"
    _out(f"publication {args.id} stopped ({unsent} cancelled)")
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


def _account_id(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise argparse.ArgumentTypeError(f"{value!r} is not an account id")
    return int(value)


def _limit(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return int(value)


def _row_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**63:
        raise argparse.ArgumentTypeError(f"{value!r} is not an id")
    return int(value)


def _id_of(what: str) -> Callable[[str], int]:
    """An argparse type for the id of a ``what`` stored in a 32-bit column."""

    def parse(value: str) -> int:
        if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {what} id")
        return int(value)

    return parse


def _quota(value: str) -> int | None:
    if value.strip().lower() == "none":
        return None
    if not (value.isascii() and value.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of messages or 'none'")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    from communepol.db.models import PostCategory

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

    household_commands = group("households", "Households of the communes' hamlets.")
    households_import = add(
        household_commands,
        "import",
        cmd_households_import,
        "Import households from a CSV file (thon, chu_ho, so_nguoi, dia_chi, so_dien_thoai).",
    )
    households_import.add_argument("--commune", required=True, help="commune code or name")
    households_import.add_argument("file", help="the CSV file (UTF-8)")
    households_import.add_argument(
        "--create-hamlets", action="store_true", help="add the hamlets the file names"
    )

    from communepol.cli_households import add_household_commands

    add_household_commands(household_commands, add)

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
    staff_password = add(
        staff_commands,
        "password",
        cmd_staff_password,
        "Set a staff member's web password, read from standard input (asked twice at a "
        "terminal); every web session of theirs ends. The password policy applies: 12 to 128 "
        "characters, not a common password, not made of their name or username, and not in "
        "a known breach when COMMUNEPOL_PWNED_PASSWORDS_URL is set.",
    )
    staff_password.add_argument("--username", required=True)

    channel_commands = group("channels", "Channel accounts: Telegram, Zalo OA, Zalo Bot, web chat.")
    channels_add = add(
        channel_commands,
        "add",
        cmd_channels_add,
        "Add a channel account. Credentials come from environment variables "
        "(COMMUNEPOL_NEW_TELEGRAM_TOKEN; COMMUNEPOL_NEW_ZALO_BOT_TOKEN; for zalo-oa "
        "COMMUNEPOL_NEW_ZALO_APP_ID, _APP_SECRET, _OA_SECRET, _ACCESS_TOKEN, _REFRESH_TOKEN), "
        "never from arguments.",
    )
    channels_add.add_argument(
        "kind",
        choices=list(CHANNEL_KINDS),
        metavar="KIND",
        help="telegram, zalo-oa, zalo-bot or webchat",
    )
    channels_add.add_argument("--name", required=True, help="a name for people, e.g. the bot's")
    channels_add.add_argument(
        "--page",
        action="append",
        metavar="SLUG",
        help="a page this account carries (repeat for several)",
    )
    channels_add.add_argument(
        "--polling",
        action="store_true",
        help="receive by polling instead of a webhook (telegram and zalo-bot only)",
    )
    channels_add.add_argument(
        "--secrets-from-stdin",
        action="store_true",
        help="read the credentials the environment lacks from a JSON object on standard input "
        "with the keys token, or app_id, app_secret, oa_secret, access_token, refresh_token",
    )
    add(
        channel_commands,
        "list",
        cmd_channels_list,
        "List the channel accounts: kind, name, status, receive mode, pages, last error.",
    )
    webhook_commands = channel_commands.add_parser(
        "webhook",
        help="Set or remove an account's webhook at its platform (telegram, zalo-bot).",
        description="Set or remove an account's webhook at its platform (telegram, zalo-bot).",
    ).add_subparsers(dest="webhook_command", required=True, metavar="COMMAND")
    for name, func, text in (
        (
            "set",
            cmd_channels_webhook_set,
            "Point the platform at COMMUNEPOL_PUBLIC_BASE_URL/webhooks/KIND/ID.",
        ),
        ("remove", cmd_channels_webhook_remove, "Remove the webhook at the platform."),
    ):
        sub = add(webhook_commands, name, func, text)
        sub.add_argument("id", type=_account_id, metavar="ID", help="the account id")
    channels_mode = add(
        channel_commands, "mode", cmd_channels_mode, "Switch how an account receives updates."
    )
    channels_mode.add_argument("id", type=_account_id, metavar="ID", help="the account id")
    channels_mode.add_argument("mode", choices=["webhook", "polling"])
    for name, text in (
        ("activate", "Send and receive through the account again (after fixing its credentials)."),
        ("pause", "Stop sending and receiving through the account; messages wait in the outbox."),
    ):
        sub = add(channel_commands, name, cmd_channels_status, text)
        sub.add_argument("id", type=_account_id, metavar="ID", help="the account id")
        sub.set_defaults(command_name=name)

    channels_quota = add(
        channel_commands,
        "quota",
        cmd_channels_quota,
        "Set a Zalo OA's promotion messages per calendar month, as its package allows "
        "('none': not limited). Broadcasts beyond it are not sent (quota_blocked).",
    )
    channels_quota.add_argument("id", type=_account_id, metavar="ID", help="the account id")
    channels_quota.add_argument(
        "quota", type=_quota, metavar="N|none", help="0 to 1000000, or none"
    )

    categories = ", ".join(category.value for category in PostCategory)
    page_commands = group("pages", "Pages: a unit's information page, its channels, followers.")
    pages_add = add(
        page_commands,
        "add",
        cmd_pages_add,
        "Create a unit's page. The slug (its web address) and the title come from the unit's "
        "name unless given: 'Xã Ea Kar' → xa-ea-kar, 'Công an xã Ea Kar'.",
    )
    pages_add.add_argument("unit", metavar="UNIT", help="unit code or name, e.g. 'ea kar'")
    pages_add.add_argument("--slug", metavar="S", help="a-z, 0-9 and '-', 3 to 100 characters")
    pages_add.add_argument("--title", metavar="T", help="default: 'Công an ' and the unit's name")
    pages_add.add_argument("--description", metavar="TEXT", help="shown on the web page")
    pages_add.add_argument(
        "--approval",
        action="append",
        metavar="CATEGORY",
        help=f"a post category that needs a supervisor's approval (repeat for several): "
        f"{categories}",
    )
    pages_add.add_argument(
        "--locale", default="vi", metavar="LANG", help="the page's language: vi (default) or en"
    )
    pages_list = add(
        page_commands,
        "list",
        cmd_pages_list,
        "List the pages: slug, unit, followers, channel kinds, active, title.",
    )
    pages_list.add_argument(
        "--within", metavar="UNIT", help="only the pages of this unit and the units below it"
    )
    pages_show = add(
        page_commands,
        "show",
        cmd_pages_show,
        "Show a page: its details, the channel accounts carrying it, its follow links.",
    )
    pages_show.add_argument("slug", metavar="SLUG")
    page_channel_commands = page_commands.add_parser(
        "channel",
        help="Make a channel account carry a page, or stop.",
        description="Make a channel account carry a page, or stop. A Zalo OA carries exactly "
        "one page; a Telegram bot, a Zalo Bot or the web chat any number.",
    ).add_subparsers(dest="channel_command", required=True, metavar="COMMAND")
    for name, func, text in (
        ("add", cmd_pages_channel_add, "The account carries the page (idempotent)."),
        ("remove", cmd_pages_channel_remove, "The account no longer carries the page."),
    ):
        sub = add(page_channel_commands, name, func, text)
        sub.add_argument("slug", metavar="SLUG")
        sub.add_argument("id", type=_account_id, metavar="ACCOUNT_ID", help="the account id")
    pages_set = add(page_commands, "set", cmd_pages_set, "Change a page.")
    pages_set.add_argument("slug", metavar="SLUG")
    pages_set.add_argument("--title", metavar="T")
    pages_set.add_argument("--description", metavar="TEXT")
    approval = pages_set.add_mutually_exclusive_group()
    approval.add_argument(
        "--approval",
        action="append",
        metavar="CATEGORY",
        help=f"the post categories that need a supervisor's approval, replacing the page's "
        f"(repeat for several): {categories}",
    )
    approval.add_argument("--no-approval", action="store_true", help="no category needs approval")
    pages_set.add_argument(
        "--active",
        choices=["yes", "no"],
        help="no: the page leaves the public list and cannot be followed or posted to",
    )

    post_commands = group("posts", "Posts: what went out, to how many; stopping a broadcast.")
    posts_list = add(
        post_commands,
        "list",
        cmd_posts_list,
        "A page's posts, newest first: id, category, status, schedule, next and last time, "
        "and its latest publication's deliveries.",
    )
    posts_list.add_argument("slug", metavar="SLUG")
    posts_list.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="at most N posts (default 20)"
    )
    posts_stats = add(
        post_commands,
        "stats",
        cmd_posts_stats,
        "Each publication of a post: recipients, queued, sent, dead, unreachable, "
        "quota-blocked, cancelled, read.",
    )
    posts_stats.add_argument("id", type=_id_of("post"), metavar="POST_ID")
    posts_stop = add(
        post_commands,
        "stop",
        cmd_posts_stop,
        "Stop a publication: what is not sent yet is cancelled.",
    )
    posts_stop.add_argument("id", type=_id_of("publication"), metavar="PUBLICATION_ID")

    inbox_commands = group("inbox", "Inbound events the bot channel gave up on (parked).")
    inbox_parked = add(
        inbox_commands,
        "parked",
        cmd_inbox_parked,
        "List parked events, newest first: id, account, event kind, attempts, received at, "
        "last error.",
    )
    inbox_parked.add_argument(
        "--limit", type=_limit, default=100, metavar="N", help="at most N events (default 100)"
    )
    inbox_retry = add(
        inbox_commands,
        "retry",
        cmd_inbox_retry,
        "Send parked events through again, with a fresh attempt count.",
    )
    inbox_retry.add_argument("ids", nargs="*", type=_row_id, metavar="ID", help="parked event ids")
    inbox_retry.add_argument("--all", action="store_true", help="every parked event")

    outbox_commands = group("outbox", "Outbound messages: the queue, dead letters.")
    outbox_status = add(
        outbox_commands,
        "status",
        cmd_outbox_status,
        "Deliveries per status, overall and per channel account.",
    )
    outbox_status.add_argument(
        "--account", type=_account_id, metavar="ID", help="only this channel account"
    )
    outbox_dead = add(
        outbox_commands,
        "dead",
        cmd_outbox_dead,
        "List dead letters and quota-blocked deliveries, newest first: id, account, kind, "
        "status, attempts, created at, last error.",
    )
    outbox_dead.add_argument(
        "--limit", type=_limit, default=100, metavar="N", help="at most N rows (default 100)"
    )
    outbox_dead.add_argument(
        "--account", type=_account_id, metavar="ID", help="only this channel account"
    )
    outbox_retry = add(
        outbox_commands,
        "retry",
        cmd_outbox_retry,
        "Put dead letters back in the queue, with a fresh attempt count.",
    )
    outbox_retry.add_argument(
        "ids", nargs="*", type=_row_id, metavar="ID", help="dead letter (delivery) ids"
    )
    outbox_retry.add_argument("--all-dead", action="store_true", help="every dead letter")
    outbox_retry.add_argument(
        "--account", type=_account_id, metavar="ID", help="with --all-dead: only this account's"
    )

    from communepol.cli_tips import add_tip_commands

    add_tip_commands(group("tips", "Tips: deadlines, routing rules, response times, export."), add)

    from communepol.cli_tokens import add_token_commands

    add_token_commands(group("tokens", "Personal API tokens: create, list, revoke."), add)

    from communepol.cli_audit import add_audit_commands

    add_audit_commands(group("audit", "The audit trail: incident reports."), add)

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
