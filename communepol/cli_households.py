"""`communepol households …` beyond the CSV import: registering one household, listing a
commune's households, and the shared household accounts — creating a group and its link code,
showing groups, a new code for a handover, adding and removing a household, and a household's
own code.

The operator acts as an administrator (``staff=None`` in `services.householdgroups` and
`services.households`), audited as "cli". Codes are printed once, to give to the representative
by hand; they work once and expire.

`add_household_commands` is called by `communepol.cli.build_parser` with the ``households``
subparsers and its ``add``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from communepol.cli import Command, _current_database, _id_of, _local, _out, _table, _unit_label
from communepol.db.models import Unit, UnitLevel
from communepol.settings import Settings

Add = Callable[[Any, str, Command, str], argparse.ArgumentParser]


async def _commune(name: str) -> Unit:
    from communepol.services.units import resolve_unit

    return await resolve_unit(name, level=UnitLevel.COMMUNE)


async def cmd_households_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import households

    async with _current_database(settings):
        commune = await _commune(args.commune)
        hamlet = await households.hamlet_named(commune, args.hamlet)
        household = await households.add_household(
            None,
            hamlet.id,
            head_name=args.head,
            members_count=args.members,
            address=args.address or "",
            phone=args.phone,
            source="cli",
        )
    _out(f"household {household.id} added: {household.head_name}, {hamlet.name}, {commune.name}")
    return 0


async def cmd_households_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import households

    async with _current_database(settings):
        commune = await _commune(args.commune)
        found = await households.list_households(None, commune.id)
    if not found:
        _out(f"{commune.name} has no registered household")
        return 0
    rows = [("ID", "HAMLET", "HEAD", "MEMBERS", "ADDRESS", "OWN ACCOUNT")]
    rows += [
        (
            str(h.id),
            h.hamlet.name,
            h.head_name,
            str(h.members_count),
            h.address,
            "yes" if h.own_contact_id is not None else "no",  # type: ignore[attr-defined]
        )
        for h in found
    ]
    _table(rows, right=(0, 3))
    return 0


def _print_code(code: str, expires_at: Any, settings: Settings) -> None:
    _out(f"link code: {code} (works once, until {_local(expires_at, settings)})")
    _out(f"the representative sends it to the bot: /link {code}")


async def cmd_group_create(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.crypto import Keyring
    from communepol.services import householdgroups

    async with _current_database(settings):
        commune = await _commune(args.commune)
        group, issued = await householdgroups.create_group(
            Keyring(settings.secret_key),
            None,
            commune.id,
            args.name,
            args.households,
            source="cli",
        )
    _out(f"group {group.id} {group.name!r} of {commune.name}: {len(args.households)} households")
    _print_code(issued.code, issued.expires_at, settings)
    return 0


async def cmd_group_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import householdgroups

    async with _current_database(settings):
        commune = await _commune(args.commune)
        groups = await householdgroups.groups_of(None, commune.id)
    if not groups:
        _out(f"{commune.name} has no household group")
        return 0
    rows = [("ID", "NAME", "HOUSEHOLDS", "CONFIRMED", "REPRESENTATIVE")]
    rows += [
        (
            str(view.group.id),
            view.group.name,
            str(len(view.members)),
            str(len(view.confirmed)),
            "linked" if view.linked else "waiting for the code",
        )
        for view in groups
    ]
    _table(rows, right=(0, 2, 3))
    return 0


async def cmd_group_show(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import householdgroups

    async with _current_database(settings):
        view = await householdgroups.group_detail(None, args.group)
    commune = _unit_label(view.commune.name, view.commune.code)
    _out(f"group {view.group.id} {view.group.name!r} of {commune}")
    _out(f"representative: {'linked' if view.linked else 'waiting for the code'}")
    rows = [("HOUSEHOLD", "HAMLET", "HEAD", "AGREED")]
    rows += [
        (
            str(m.household.id),
            m.hamlet_name,
            m.household.head_name,
            "yes" if m.confirmed else "not yet",
        )
        for m in view.members
    ]
    _table(rows, right=(0,))
    return 0


async def cmd_group_code(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.crypto import Keyring
    from communepol.services import householdgroups

    async with _current_database(settings):
        issued = await householdgroups.issue_handover_code(
            Keyring(settings.secret_key), None, args.group, source="cli"
        )
    _out(f"a new code for group {args.group}; earlier unused codes no longer work")
    _print_code(issued.code, issued.expires_at, settings)
    return 0


async def cmd_group_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import householdgroups

    async with _current_database(settings):
        member = await householdgroups.add_member(None, args.group, args.household, source="cli")
    _out(
        f"household {member.household.id} ({member.household.head_name}) added to group "
        f"{args.group}; the representative confirms it in the bot"
    )
    return 0


async def cmd_group_remove(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services import householdgroups

    async with _current_database(settings):
        await householdgroups.remove_member(None, args.group, args.household, source="cli")
    _out(f"household {args.household} removed from group {args.group}")
    return 0


async def cmd_own_code(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.crypto import Keyring
    from communepol.services import householdgroups

    async with _current_database(settings):
        issued = await householdgroups.issue_own_account_code(
            Keyring(settings.secret_key), None, args.household, source="cli"
        )
    _out(f"a code for household {args.household}'s own account (it leaves its shared group)")
    _print_code(issued.code, issued.expires_at, settings)
    return 0


def add_household_commands(households: Any, add: Add) -> None:
    """The ``households`` subcommands besides ``import``, under the subparsers ``households``."""
    added = add(households, "add", cmd_households_add, "Register one household in a hamlet.")
    added.add_argument("--commune", required=True, help="commune code or name")
    added.add_argument("--hamlet", required=True, help="hamlet name, e.g. 'ea sinh'")
    added.add_argument("--head", required=True, help="head of household")
    added.add_argument("--members", required=True, type=int, help="number of people, 1-50")
    added.add_argument("--address", help="address in the hamlet")
    added.add_argument("--phone", help="a Vietnamese phone number")

    listed = add(households, "list", cmd_households_list, "A commune's households, by hamlet.")
    listed.add_argument("--commune", required=True, help="commune code or name")

    own = add(
        households,
        "own-code",
        cmd_own_code,
        "A one-time code for a household's own account (it leaves its shared group).",
    )
    own.add_argument("household", type=_id_of("household"), metavar="HOUSEHOLD_ID")

    groups = households.add_parser(
        "group",
        help="Shared household accounts: create, list, show, code, add, remove.",
        description="Shared household accounts: create, list, show, code, add, remove.",
    ).add_subparsers(dest="group_command", required=True, metavar="COMMAND")
    create = add(
        groups,
        "create",
        cmd_group_create,
        "Create a group of households sharing one account, and its one-time link code.",
    )
    create.add_argument("--commune", required=True, help="commune code or name")
    create.add_argument(
        "--name", required=True, help="the group's name, e.g. 'Nhóm 1 Buôn Ea Sinh'"
    )
    create.add_argument(
        "households",
        nargs="+",
        type=_id_of("household"),
        metavar="HOUSEHOLD_ID",
        help="see households list",
    )
    group_list = add(groups, "list", cmd_group_list, "A commune's household groups.")
    group_list.add_argument("--commune", required=True, help="commune code or name")
    show = add(groups, "show", cmd_group_show, "A group's households and which agreed.")
    show.add_argument("group", type=_id_of("group"), metavar="GROUP_ID")
    code = add(
        groups,
        "code",
        cmd_group_code,
        "A new link code: for a handover, or when the first code was lost.",
    )
    code.add_argument("group", type=_id_of("group"), metavar="GROUP_ID")
    for name, func, text in (
        ("add", cmd_group_add, "Add a household of the commune to a group."),
        ("remove", cmd_group_remove, "Take a household out of a group."),
    ):
        sub = add(groups, name, func, text)
        sub.add_argument("group", type=_id_of("group"), metavar="GROUP_ID")
        sub.add_argument("household", type=_id_of("household"), metavar="HOUSEHOLD_ID")
