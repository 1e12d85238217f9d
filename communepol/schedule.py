"""Recurring schedules: cron expressions evaluated in the people's timezone.

APScheduler's cron trigger computes the next fire time (daylight-saving and month lengths
included); the database, not APScheduler, remembers what is due. Times go in and out in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from communepol.clock import require_aware
from communepol.errors import ValidationError


def cron_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    """A standard five-field crontab ("0 7 * * mon": Mondays at 07:00 local time)."""
    try:
        return CronTrigger.from_crontab(expression.strip(), timezone=tz)
    except (ValueError, TypeError) as err:
        raise ValidationError(
            f"{expression!r} is not a cron expression (minute hour day month weekday)",
            field="cron_expression",
        ) from err


def next_occurrence(expression: str, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first occurrence strictly after ``after``, in UTC; None if there is none."""
    after = require_aware(after, "after")
    trigger = cron_trigger(expression, tz)
    fire = trigger.get_next_fire_time(None, after.astimezone(tz))
    while fire is not None and fire <= after:
        fire = trigger.get_next_fire_time(fire, fire)
    return None if fire is None else fire.astimezone(UTC)
