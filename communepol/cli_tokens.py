"""`communepol tokens …`: personal API tokens, made and revoked by an operator on the server.

``tokens create --username U --name N [--days D]`` prints the new token once (only its keyed
hash is stored), ``tokens list --username U`` shows a staff member's tokens without any secret,
``tokens revoke ID`` stops one at once. Each parses, opens the database, calls one service
(`services.apitokens`) and prints; changes are audited as "cli". Bad input ends with one
``communepol: error: …`` line, exit code 2, and nothing written.

`add_token_commands` is called by `communepol.cli.build_parser` with its ``group`` and ``add``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from communepol.cli import Command, _current_database, _id_of, _local, _out, _table
from communepol.crypto import Keyring
from communepol.errors import NotFound
from communepol.settings import Settings

Add = Callable[[Any, str, Command, str], argparse.ArgumentParser]


async def _staff_by_username(username: str) -> Any:
    from communepol.db.models import Staff
    from communepol.services.staff import check_username

    found = await Staff.get_or_none(username=check_username(username))
    if found is None:
        raise NotFound(f"no staff member with the username {username!r}")
    return found


async def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.apitokens import create_token

    async with _current_database(settings):
        staff = await _staff_by_username(args.username)
        row, token = await create_token(
            Keyring(settings.secret_key), staff, args.name, days=args.days
        )
    expires = _local(row.expires_at, settings) if row.expires_at else "never"
    _out(
        f"API token {row.id} ({row.name}) for {staff.username}, valid until {expires}; "
        "it is shown only this once:"
    )
    _out(token)
    return 0


async def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.apitokens import list_tokens

    async with _current_database(settings):
        staff = await _staff_by_username(args.username)
        rows = await list_tokens(staff)
    if not rows:
        _out(f"{staff.username} has no API token")
        return 0
    table = [("ID", "NAME", "CREATED", "EXPIRES", "LAST USED", "STATE")]
    for row in rows:
        state = "revoked" if row.revoked_at is not None else "active"
        table.append(
            (
                str(row.id),
                row.name,
                _local(row.created_at, settings),
                _local(row.expires_at, settings) if row.expires_at else "never",
                _local(row.last_used_at, settings) if row.last_used_at else "never",
                state,
            )
        )
    _table(table, right=(0,))
    return 0


async def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.apitokens import revoke_token

    async with _current_database(settings):
        row = await revoke_token(args.id)
    _out(f"API token {row.id} ({row.name}) revoked")
    return 0


def _days(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 3650:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of days from 1 to 3650")
    return int(value)


def add_token_commands(tokens: Any, add: Add) -> None:
    """The ``tokens`` subcommands, under the subparsers ``tokens``."""
    create = add(
        tokens,
        "create",
        cmd_tokens_create,
        "Create a personal API token for a staff member; it is printed once.",
    )
    create.add_argument("--username", required=True, help="the staff member's username")
    create.add_argument("--name", required=True, help="what the token is for, e.g. 'reports'")
    create.add_argument(
        "--days", type=_days, default=90, help="days until it expires (1-3650, default 90)"
    )
    listing = add(tokens, "list", cmd_tokens_list, "List a staff member's API tokens.")
    listing.add_argument("--username", required=True, help="the staff member's username")
    revoke = add(tokens, "revoke", cmd_tokens_revoke, "Revoke an API token at once.")
    revoke.add_argument("id", type=_id_of("token"), metavar="ID", help="the token's id")
