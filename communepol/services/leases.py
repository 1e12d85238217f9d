"""Leases: which process owns a piece of work (a channel account's sending, a leader-only job).

Taking or renewing a lease is one conditional UPDATE (or the INSERT that creates it), so two
processes can never both hold it; a holder that dies simply stops renewing and the lease lapses
after its time-to-live. Time is the service's UTC clock; processes sharing a database share a
machine clock or NTP, and the TTL is long compared with any skew between them.
"""

from __future__ import annotations

from datetime import timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from communepol.clock import utcnow
from communepol.db.models import Lease


async def acquire(name: str, owner: str, ttl: timedelta) -> bool:
    """Take or renew ``name`` for ``owner``; False when another live owner holds it."""
    now = utcnow()
    updated = await Lease.filter(Q(name=name) & (Q(owner=owner) | Q(expires_at__lt=now))).update(
        owner=owner, expires_at=now + ttl, renewed_at=now
    )
    if updated:
        return True
    try:
        await Lease.create(name=name, owner=owner, expires_at=now + ttl, renewed_at=now)
    except IntegrityError:
        return False
    return True


async def release(name: str, owner: str) -> None:
    await Lease.filter(name=name, owner=owner).delete()
