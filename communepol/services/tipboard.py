"""The tip desk seen from the server, for `communepol tips …`: which deadlines apply to a unit
and where they come from, the routing rules, and the export of a unit's tips for a spreadsheet
(the response-time figures of the board are `sla.response_times_for_unit`).

These act as an administrator — whoever runs the command is on the server — so nothing here
takes a staff member or checks a scope; every change is audited as "cli". The export never
names a sender: an anonymous tip shows its alias, a named one only the word "named", and the
tips' text goes out only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from communepol.db.models import (
    RoutingRule,
    SlaPolicy,
    Tip,
    TipCategory,
    Unit,
    UnitLevel,
    Urgency,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import _
from communepol.services import audit, sla
from communepol.services.tips import unit_scope_q

DEFAULT_DAYS = 30
NAMED = "named"  # what the export shows for a named sender: never the name


# --- deadlines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EffectivePolicy:
    urgency: Urgency
    policy: sla.Policy
    source: Unit | None  # the unit whose policy applies; None: the defaults


async def effective_policies(unit: Unit) -> list[EffectivePolicy]:
    """For each urgency, the deadlines a new tip of ``unit`` gets and the unit they come from
    (the nearest one up the tree with a policy, as `sla.policy_for` decides)."""
    chain = sla.lineage(unit)
    rows = await SlaPolicy.filter(unit_id__in=chain).prefetch_related("unit")
    by_key = {(row.unit_id, row.urgency): row for row in rows}  # type: ignore[attr-defined]
    result = []
    for urgency in Urgency:
        found = next((by_key[(u, urgency)] for u in chain if (u, urgency) in by_key), None)
        if found is None:
            result.append(EffectivePolicy(urgency, sla.DEFAULTS[urgency], None))
            continue
        policy = sla.Policy(
            timedelta(minutes=found.first_response_minutes),
            timedelta(minutes=found.resolution_minutes),
            timedelta(minutes=found.escalation_repeat_minutes),
        )
        result.append(EffectivePolicy(urgency, policy, found.unit))
    return result


# --- routing rules -----------------------------------------------------------------------------


def parse_category(value: str) -> TipCategory:
    try:
        return TipCategory(value.strip().lower().replace("-", "_"))
    except ValueError as err:
        names = ", ".join(category.value for category in TipCategory)
        raise ValidationError(
            _("unknown tip category {value!r}: {names}"), field="category", value=value, names=names
        ) from err


async def add_route(
    scope_unit: Unit, category: TipCategory | str, target_unit: Unit, *, actor_label: str = "cli"
) -> RoutingRule:
    """Tips of ``category`` from within ``scope_unit`` also go to ``target_unit``."""
    kind = category if isinstance(category, TipCategory) else parse_category(category)
    if target_unit.level is UnitLevel.HAMLET or not target_unit.active:
        raise ValidationError(
            _("tips can be routed to an active unit above a hamlet"), field="target"
        )
    existing = await RoutingRule.get_or_none(
        scope_unit_id=scope_unit.id, category=kind, target_unit_id=target_unit.id
    )
    if existing is not None:
        raise Conflict(_("this route exists already (route {route})"), route=existing.id)
    rule = await RoutingRule.create(scope_unit=scope_unit, category=kind, target_unit=target_unit)
    await audit.record(
        "tip.route_added",
        actor_label=actor_label,
        object_type="routing_rule",
        object_id=rule.id,
        unit_id=scope_unit.id,
        source=actor_label,
        data={"category": kind.value, "target": target_unit.id},
    )
    return rule


async def list_routes() -> list[RoutingRule]:
    return list(
        await RoutingRule.all().order_by("id").prefetch_related("scope_unit", "target_unit")
    )


async def remove_route(rule_id: int, *, actor_label: str = "cli") -> RoutingRule:
    rule = await RoutingRule.get_or_none(id=rule_id).prefetch_related("scope_unit", "target_unit")
    if rule is None:
        raise NotFound(_("no route {route}"), route=rule_id)
    await rule.delete()
    await audit.record(
        "tip.route_removed",
        actor_label=actor_label,
        object_type="routing_rule",
        object_id=rule_id,
        unit_id=rule.scope_unit.id,
        source=actor_label,
        data={"category": rule.category.value, "target": rule.target_unit.id},
    )
    return rule


# --- export ------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "reference",
    "created_at",
    "unit",
    "category",
    "urgency",
    "status",
    "sender",
    "first_response_minutes",
    "resolved_at",
    "outcome",
)


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return "" if moment is None else f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def export_row(tip: Tip, tz: tzinfo, *, with_text: bool = False) -> list[str]:
    """One tip as the export's columns (`EXPORT_COLUMNS`, then its text if asked for); its
    ``unit`` fetched. A sender is an alias or the word "named", never a name."""
    waited = (
        ""
        if tip.first_response_at is None
        else f"{(tip.first_response_at - tip.created_at).total_seconds() / 60:.1f}"
    )
    row = [
        f"T-{tip.reference}",
        _local(tip.created_at, tz),
        tip.unit.name,
        tip.category.value,
        tip.urgency.value,
        tip.status.value,
        (tip.alias or "") if tip.anonymous else NAMED,
        waited,
        _local(tip.resolved_at, tz),
        tip.outcome or "",
    ]
    return [*row, tip.text] if with_text else row


async def export_tips(
    unit: Unit,
    *,
    tz: tzinfo,
    since: datetime | None = None,
    with_text: bool = False,
    actor_label: str = "cli",
) -> list[list[str]]:
    """The tips of ``unit``'s subtree, and those routed to a unit in it, created since
    ``since``, oldest first, as rows of text headed by the column names; times in ``tz``. The
    export is audited (how many, whether with text)."""
    query = Tip.filter(await unit_scope_q(unit))
    if since is not None:
        query = query.filter(created_at__gte=since)
    tips = await query.order_by("created_at", "id").prefetch_related("unit")
    header = [*EXPORT_COLUMNS, *(("text",) if with_text else ())]
    rows = [header, *(export_row(tip, tz, with_text=with_text) for tip in tips)]
    await audit.record(
        "tip.exported",
        actor_label=actor_label,
        object_type="unit",
        object_id=unit.id,
        unit_id=unit.id,
        source=actor_label,
        data={"tips": len(tips), "with_text": with_text},
    )
    return rows


__all__ = [
    "EXPORT_COLUMNS",
    "EffectivePolicy",
    "add_route",
    "effective_policies",
    "export_row",
    "export_tips",
    "list_routes",
    "parse_category",
    "remove_route",
]
