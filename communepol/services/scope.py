"""Scope: which units a staff member may see and act on — decided here, once, for every caller
(bot commands, button payloads, the admin web, the API, the CLI).

A supervisor or an admin sees their unit and everything below it; an officer sees their unit
(a commune with its hamlets). Writing posts is an officer's job on their own unit's pages;
approving posts and alerts is a supervisor's or an admin's. An object outside the caller's
scope is reported as `NotFound`, never as "forbidden", so that its existence does not leak.
"""

from __future__ import annotations

from communepol.db.models import Role, Staff, Unit
from communepol.errors import NotFound, PermissionDenied
from communepol.i18n import _

APPROVER_ROLES = (Role.SUPERVISOR, Role.ADMIN)


async def _unit_of(staff: Staff) -> Unit:
    if not staff.active:
        raise PermissionDenied(_("this staff account is deactivated"))
    return await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]


def unit_covers(outer: Unit, inner: Unit) -> bool:
    """Whether ``inner`` is ``outer`` or lies below it."""
    return inner.id == outer.id or inner.path.startswith(f"{outer.path}{outer.id}/")


async def covers(staff: Staff, unit: Unit) -> bool:
    """Whether ``staff`` may see ``unit``'s pages, posts and followers."""
    return unit_covers(await _unit_of(staff), unit)


async def require_unit(staff: Staff, unit: Unit) -> None:
    """`NotFound` unless ``unit`` is in ``staff``'s scope."""
    if not await covers(staff, unit):
        raise NotFound("not found")


async def require_approver(staff: Staff, unit: Unit) -> None:
    """A supervisor or admin whose scope includes ``unit``."""
    await require_unit(staff, unit)
    if staff.role not in APPROVER_ROLES:
        raise PermissionDenied(_("only a supervisor can approve this"))
