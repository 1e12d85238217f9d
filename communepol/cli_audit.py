"""`communepol audit …`: reading the audit trail on the server.

``audit incident STAFF [--since T] [--until T] [--json]`` prints what one account did in a time
window — the account, its sign-ins and their addresses, the tips it read and exported (how
many, which, their categories and communes, how many anonymous, with a location or with files:
the data categories), its refused attempts on other units' tips, and the security alerts it
raised — the basis of the 72-hour breach notice (Form 08; `services.breachwatch`). Times are
typed and shown in the people's timezone (Asia/Ho_Chi_Minh); the window is the last 24 hours by
default. It prints no tip text and no sender. Bad input ends with one ``communepol: error: …``
line and exit code 2.

`add_audit_commands` is called by `communepol.cli.build_parser` with its ``group`` and ``add``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from communepol.cli import Command, _current_database, _local, _out
from communepol.errors import ValidationError
from communepol.settings import Settings

Add = Callable[[Any, str, Command, str], argparse.ArgumentParser]
DEFAULT_WINDOW = timedelta(hours=24)
TIME_FORMS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def local_time(value: str, zone: tzinfo, field: str) -> datetime:
    """``2026-03-02 09:30`` or ``2026-03-02`` (midnight) in ``zone``."""
    text = value.strip()
    for form in TIME_FORMS:
        try:
            return datetime.strptime(text, form).replace(tzinfo=zone)
        except ValueError:
            continue
    try:
        return datetime.combine(date.fromisoformat(text), time.min, tzinfo=zone)
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a time: write YYYY-MM-DD HH:MM (Vietnam time)", field=field
        ) from None


def _window(
    args: argparse.Namespace, settings: Settings, now: datetime
) -> tuple[datetime, datetime]:
    zone = settings.tz
    until = local_time(args.until, zone, "until") if args.until else now
    since = local_time(args.since, zone, "since") if args.since else until - DEFAULT_WINDOW
    return since, until


def _iso(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


def report_json(report: Any, zone: tzinfo) -> dict[str, Any]:
    def figures(found: Any) -> dict[str, Any]:
        return {
            "events": found.events,
            "tips": found.tips,
            "references": found.references,
            "categories": found.categories,
            "communes": found.communes,
            "anonymous": found.anonymous,
            "with_location": found.with_location,
            "with_files": found.with_files,
        }

    return {
        "account": {
            "id": report.staff_id,
            "name": report.name,
            "username": report.username,
            "role": report.role,
            "unit": report.unit,
            "active": report.active,
        },
        "window": {"since": _iso(report.since, zone), "until": _iso(report.until, zone)},
        "access": [
            {
                "at": _iso(item.at, zone),
                "action": item.action,
                "source": item.source,
                "ip": item.ip,
                "reason": item.reason,
            }
            for item in report.access
        ],
        "addresses": report.addresses,
        "read": figures(report.read),
        "exported": {
            "exports": report.exported.exports,
            "tips": report.exported.tips,
            "with_text": report.exported.with_text,
        },
        "refused": figures(report.refused),
        "alerts": [
            {"at": _iso(alert.at, zone), "kind": alert.kind, "count": alert.count}
            for alert in report.alerts
        ],
    }


def _counts(values: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in values.items()) or "-"


def _print_figures(title: str, found: Any) -> None:
    _out(f"{title}: {found.tips} tips ({found.events} times)")
    if not found.tips:
        return
    _out(f"  references: {', '.join(found.references)}")
    _out(f"  categories: {_counts(found.categories)}")
    _out(f"  communes: {_counts(found.communes)}")
    _out(
        f"  anonymous: {found.anonymous} · with a location: {found.with_location} · "
        f"with photos or files: {found.with_files}"
    )


def print_report(report: Any, settings: Settings) -> None:
    state = "active" if report.active else "deactivated"
    username = report.username or "-"
    _out(f"incident report: staff {report.staff_id} {report.name} ({username})")
    _out(f"account: {report.role} of {report.unit}, {state}")
    _out(f"window: {_local(report.since, settings)} to {_local(report.until, settings)}")
    _out(f"sign-ins: {sum(1 for item in report.access if item.action == 'auth.login')}")
    for item in report.access:
        reason = f" ({item.reason})" if item.reason else ""
        _out(
            f"  {_local(item.at, settings)}  {item.action}{reason}  {item.source}  "
            f"{item.ip or 'no address'}"
        )
    _out(f"addresses: {', '.join(report.addresses) or '-'}")
    _print_figures("tips read", report.read)
    exported = report.exported
    _out(
        f"tips exported: {exported.tips} in {exported.exports} exports "
        f"({exported.with_text} with the tips' text)"
    )
    _print_figures("refused attempts on tips outside the account's area", report.refused)
    _out(f"security alerts: {len(report.alerts)}")
    for alert in report.alerts:
        _out(f"  {_local(alert.at, settings)}  {alert.kind}  {alert.count}")


async def cmd_audit_incident(args: argparse.Namespace, settings: Settings) -> int:
    from communepol.clock import utcnow
    from communepol.services.breachwatch import find_staff, incident_report

    since, until = _window(args, settings, utcnow())
    async with _current_database(settings):
        staff = await find_staff(args.staff)
        report = await incident_report(staff, since, until)
    if args.json:
        _out(json.dumps(report_json(report, settings.tz), ensure_ascii=False, indent=2))
    else:
        print_report(report, settings)
    return 0


def add_audit_commands(commands: Any, add: Add) -> None:
    incident = add(
        commands,
        "incident",
        cmd_audit_incident,
        "What one account did in a time window, from the audit trail: sign-ins and their "
        "addresses, tips read and exported (references, categories, communes, anonymous), "
        "refused attempts, security alerts. No tip text, no sender.",
    )
    incident.add_argument("staff", metavar="STAFF", help="staff id or username")
    incident.add_argument(
        "--since",
        metavar="TIME",
        help="start, YYYY-MM-DD HH:MM in Vietnam time (default: 24 h before --until)",
    )
    incident.add_argument(
        "--until", metavar="TIME", help="end, YYYY-MM-DD HH:MM in Vietnam time (default: now)"
    )
    incident.add_argument("--json", action="store_true", help="print JSON for a machine")
