"""The audit trail: the only writer of `AuditEvent`.

Values are flattened to short single-line strings before they are stored — a newline or an
ANSI escape typed into a name cannot forge a second log line — and the caller never passes
tip text, credentials or platform identities (the function has no parameter for them).
"""

from __future__ import annotations

import re
from typing import Any

from communepol.db.models import AuditEvent, Staff

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_VALUE = 200


def _flat(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)[:MAX_VALUE]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _flat(str(value))


async def record(
    action: str,
    *,
    actor: Staff | None = None,
    actor_label: str | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    unit_id: int | None = None,
    source: str = "system",
    ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``actor_label`` names a non-staff actor ("cli", "demo", "ticker")."""
    label = actor.full_name if actor is not None else (actor_label or source)
    return await AuditEvent.create(
        actor_staff_id=actor.id if actor is not None else None,
        actor_label=_flat(label),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        unit_id=unit_id,
        source=source,
        ip=ip,
        data={str(k): _flat(v) for k, v in (data or {}).items()},
    )
