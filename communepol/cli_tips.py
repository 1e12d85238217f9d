"""`communepol tips …`: the tip desk's settings and figures, run by staff on the server.

``tips sla show|set`` (deadlines per urgency and where they come from), ``tips route
add|list|remove`` (routing rules: the cyber desk gets fraud), ``tips board`` (response times
per commune) and ``tips export`` (a CSV of a unit's tips). Like the other commands, each
parses, opens the database, calls one service (`services.tipboard`, `services.sla`) and prints;
changes are audited as "cli". Nothing printed or exported names a sender.

`add_tip_commands` is called by `communepol.cli.build_parser` with its ``group`` and ``add``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from communepol.cli import (
    Command,
    _current_database,
    _limit,
    _local,
    _out,
    _table,
    _unit_label,
)
from communepol.db.models import TipCategory, Unit, Urgency
from communepol.errors import ValidationError
from communepol.settings import Settings
from communepol.spreadsheet import csv_text

Add = Callable[[Any, str, Command, str], argparse.ArgumentParser]


def _label(unit: Unit) -> str:
    return _unit_label(unit.name, unit.code)


def _minutes(delta: Any) -> str:
    return str(int(delta.total_seconds() // 60))


# --- sla ----------------------------------------------------------------------------------------


async def cmd_tips_sla_show(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.tipboard import effective_policies
    from communepol.services.units import resolve_unit

    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        policies = await effective_policies(unit)
    _out(f"deadlines of new tips in {_label(unit)}, in minutes:")
    rows = [("URGENCY", "FIRST RESPONSE", "RESOLUTION", "REPEAT", "FROM")]
    for item in policies:
        rows.append(
            (
                item.urgency.value,
                _minutes(item.policy.first_response),
                _minutes(item.policy.resolution),
                _minutes(item.policy.repeat),
                _label(item.source) if item.source is not None else "defaults",
            )
        )
    _table(rows, right=(1, 2, 3))
    return 0


async def cmd_tips_sla_set(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.sla import set_policy
    from communepol.services.units import resolve_unit

    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        row = await set_policy(unit, args.urgency, args.first, args.resolution, args.repeat)
    _out(
        f"{row.urgency.value} tips of {_label(unit)} and the units below it without a policy "
        f"of their own: first response within {row.first_response_minutes} min, resolution "
        f"within {row.resolution_minutes} min, escalated again every "
        f"{row.escalation_repeat_minutes} min"
    )
    return 0


# --- routes -------------------------------------------------------------------------------------


async def cmd_tips_route_add(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.tipboard import add_route, parse_category
    from communepol.services.units import resolve_unit

    category = parse_category(args.category)
    async with _current_database(settings):
        scope_unit = await resolve_unit(args.scope_unit)
        target = await resolve_unit(args.target_unit)
        rule = await add_route(scope_unit, category, target)
    _out(
        f"route {rule.id}: {category.value} tips of {_label(scope_unit)} and the units below "
        f"it also go to {_label(target)}"
    )
    return 0


async def cmd_tips_route_list(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.tipboard import list_routes

    async with _current_database(settings):
        rules = await list_routes()
    if not rules:
        _out("no routing rules (add one with `communepol tips route add`)")
        return 0
    rows = [("ID", "CATEGORY", "WITHIN", "ALSO TO")]
    for rule in rules:
        rows.append(
            (str(rule.id), rule.category.value, _label(rule.scope_unit), _label(rule.target_unit))
        )
    _table(rows, right=(0,))
    return 0


async def cmd_tips_route_remove(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.tipboard import remove_route

    async with _current_database(settings):
        rule = await remove_route(args.id)
    _out(
        f"route {args.id} removed ({rule.category.value} tips of {_label(rule.scope_unit)} "
        f"no longer go to {_label(rule.target_unit)})"
    )
    return 0


# --- board and export ---------------------------------------------------------------------------


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


async def cmd_tips_board(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from communepol.clock import utcnow
    from communepol.services.sla import response_times_for_unit
    from communepol.services.units import resolve_unit

    now = utcnow()
    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        figures = await response_times_for_unit(
            unit, since=now - timedelta(days=args.days), now=now
        )
    if not figures:
        _out(f"no communes in {_label(unit)}")
        return 0
    _out(
        f"tips of the communes in {_label(unit)} received in the last {args.days} days "
        f"(to {_local(now, settings)}); open and overdue: now; minutes to the first response"
    )
    rows = [("COMMUNE", "RECEIVED", "ANSWERED", "MEDIAN", "P90", "OPEN", "OVERDUE")]
    for item in figures:
        rows.append(
            (
                item.unit_name,
                str(item.received),
                str(item.answered),
                _figure(item.median_minutes),
                _figure(item.p90_minutes),
                str(item.open),
                str(item.overdue),
            )
        )
    _table(rows, right=range(1, 7))
    return 0


# A cell a spreadsheet would run as a formula (a resident can type "=HYPERLINK(…)" into a tip)
# is written with a leading apostrophe: the rule of `communepol.spreadsheet`, shared with the
# admin web's exports.
_csv = csv_text


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only: the export is police data. UTF-8
    with a byte-order mark, so spreadsheets read Vietnamese correctly."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a file that existed keeps its mode otherwise
        with open(descriptor, "w", encoding="utf-8-sig", newline="") as handle:
            handle.write(text)
    except OSError as err:
        raise ValidationError(f"cannot write {path}: {err.strerror or err}", field="out") from err


async def cmd_tips_export(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.services.tipboard import export_tips
    from communepol.services.units import resolve_unit

    since = datetime.combine(args.since, time.min, tzinfo=settings.tz) if args.since else None
    path: Path = args.out
    if not path.parent.is_dir():
        raise ValidationError(f"no such directory: {path.parent}", field="out")
    async with _current_database(settings):
        unit = await resolve_unit(args.unit)
        rows = await export_tips(unit, tz=settings.tz, since=since, with_text=args.with_text)
    _write_private(path, _csv(rows))
    count = len(rows) - 1
    _out(f"{count} tip{'' if count == 1 else 's'} of {_label(unit)} written to {path}")
    return 0


# --- the parser ---------------------------------------------------------------------------------


def _whole_minutes(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes")
    return int(value)


def _route_id(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        raise argparse.ArgumentTypeError(f"{value!r} is not a route id")
    return int(value)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2025-07-01") from None


def add_tip_commands(tips: Any, add: Add) -> None:
    """The ``tips`` subcommands, under the subparsers ``tips``."""
    urgencies = ", ".join(level.value for level in Urgency)
    categories = ", ".join(category.value for category in TipCategory)

    sla_commands = tips.add_parser(
        "sla",
        help="Deadlines of new tips per urgency: show, set.",
        description="Deadlines of new tips per urgency: show, set.",
    ).add_subparsers(dest="sla_command", required=True, metavar="COMMAND")
    sla_show = add(
        sla_commands,
        "show",
        cmd_tips_sla_show,
        "The deadlines a new tip of a unit gets, per urgency, and the unit they come from.",
    )
    sla_show.add_argument("unit", metavar="UNIT", help="unit code or name, e.g. 'ea kar'")
    sla_set = add(
        sla_commands,
        "set",
        cmd_tips_sla_set,
        "Set a unit's deadlines for one urgency; they apply below it too, where no unit has "
        "its own.",
    )
    sla_set.add_argument("unit", metavar="UNIT", help="unit code or name")
    sla_set.add_argument("urgency", metavar="URGENCY", help=urgencies)
    sla_set.add_argument(
        "first", type=_whole_minutes, metavar="FIRST_MIN", help="minutes to the first response"
    )
    sla_set.add_argument(
        "resolution", type=_whole_minutes, metavar="RESOLUTION_MIN", help="minutes to resolve"
    )
    sla_set.add_argument(
        "repeat",
        type=_whole_minutes,
        metavar="REPEAT_MIN",
        help="minutes between escalations while overdue",
    )

    route_commands = tips.add_parser(
        "route",
        help="Routing rules: tips of a category also go to another unit.",
        description="Routing rules: within a unit, tips of a category also go to another "
        "unit (fraud to the province's cyber desk, say).",
    ).add_subparsers(dest="route_command", required=True, metavar="COMMAND")
    route_add = add(
        route_commands,
        "add",
        cmd_tips_route_add,
        "Tips of CATEGORY from SCOPE_UNIT and the units below it also go to TARGET_UNIT.",
    )
    route_add.add_argument("scope_unit", metavar="SCOPE_UNIT", help="unit code or name")
    route_add.add_argument("category", metavar="CATEGORY", help=categories)
    route_add.add_argument("target_unit", metavar="TARGET_UNIT", help="unit code or name")
    add(route_commands, "list", cmd_tips_route_list, "List the routing rules.")
    route_remove = add(route_commands, "remove", cmd_tips_route_remove, "Remove a routing rule.")
    route_remove.add_argument("id", type=_route_id, metavar="ID", help="the route id")

    board = add(
        tips,
        "board",
        cmd_tips_board,
        "Response times per commune under a unit: received, answered, median and 90th "
        "percentile minutes to the first response, open, overdue.",
    )
    board.add_argument("unit", metavar="UNIT", help="unit code or name")
    board.add_argument(
        "--days", type=_limit, default=30, metavar="N", help="the last N days (default 30)"
    )

    export = add(
        tips,
        "export",
        cmd_tips_export,
        "Write a unit's tips (and those routed to it) to a CSV file: reference, time, unit, "
        "category, urgency, status, sender (an alias, or 'named'), minutes to the first "
        "response, resolved at, outcome.",
    )
    export.add_argument("unit", metavar="UNIT", help="unit code or name")
    export.add_argument(
        "--since", type=_day, metavar="DATE", help="only tips from this day on (YYYY-MM-DD)"
    )
    export.add_argument("--out", type=Path, required=True, metavar="FILE.csv")
    export.add_argument(
        "--with-text", action="store_true", help="add each tip's text (police data: keep it safe)"
    )
