"""Personal API tokens: how a staff member's scripts reach the REST API (`/api/v1`).

A token is ``cpol_`` followed by 43 URL-safe characters (32 random bytes). It is shown once, when
it is created; the database keeps only a keyed hash of it (HMAC-SHA256 under the ``session``
key, with the label ``api-token`` as the first part so it can never equal a session's hash),
its name, when it expires and when it was last used. Listing tokens shows no secret.

`authenticate` is the one check for every API request: an unknown, malformed, revoked or
expired token, or one whose staff member was deactivated, is `InvalidToken` (401), all with
the same message so a guesser learns nothing. ``last_used_at`` is written at most once a
minute per token, so a busy script does not turn every read into a write.

Creating and revoking are audited; the token itself never reaches the audit trail or a log.
Every refused authentication is audited too (``api.auth_failed``, with the client address and
the reason — missing, malformed, unknown, revoked, expired, inactive — never the token or its
hash), and an address with more than `ADDRESS_FREE_FAILURES` of them within
`auth.THROTTLE_WINDOW` must wait (`Throttled`, 429 with ``Retry-After``) by the login's own
back-off (`auth.backoff`), before its token is even looked at: while it waits, a guesser learns
nothing, and no further row is written, so one address adds at most a few dozen rows per
window however fast it knocks.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from tortoise.expressions import Q

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import ApiToken, AuditEvent, Staff
from communepol.errors import CommunepolError, Conflict, NotFound, ValidationError
from communepol.i18n import _
from communepol.services import audit
from communepol.services.auth import THROTTLE_WINDOW, backoff
from communepol.text import clean

TOKEN_PREFIX = "cpol_"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32
DEFAULT_DAYS = 90
MAX_DAYS = 3650
MAX_NAME = 100
LAST_USED_EVERY = timedelta(minutes=1)
_HASH_PURPOSE = "session"
_HASH_LABEL = "api-token"
# cpol_ + base64url of 32 bytes (43 characters, no padding); a little slack for longer ones.
_TOKEN_SHAPE = re.compile(r"^cpol_[A-Za-z0-9_-]{43,128}$")
AUTH_FAILED = "api.auth_failed"
# Like the login's per-address allowance: a station's scripts may share one address.
ADDRESS_FREE_FAILURES = 20


class InvalidToken(CommunepolError):
    """No valid token: missing, malformed, unknown, revoked, expired, or its staff member is
    deactivated. One message for all of them."""

    http_status = 401

    def __init__(self) -> None:
        super().__init__(_("a valid API token is needed"))


class Throttled(CommunepolError):
    """Too many refused authentications from this address lately; ``retry_after`` seconds."""

    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many refused authentications from this address; try again later")
        self.retry_after = retry_after


def token_hash(keyring: Keyring, token: str) -> str:
    return keyring.keyed_hash(_HASH_PURPOSE, _HASH_LABEL, token)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def _clean_name(value: str) -> str:
    name = clean(value)
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationError(
            _("a token's name needs 1 to {limit} characters"), field="name", limit=MAX_NAME
        )
    return name


def _check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError(_("a token lives 1 to {limit} days"), field="days", limit=MAX_DAYS)
    return days


async def create_token(
    keyring: Keyring,
    staff: Staff,
    name: str,
    *,
    days: int = DEFAULT_DAYS,
    actor: Staff | None = None,
    source: str = "cli",
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for ``staff``, valid ``days`` days: the row and the token, which is never
    shown again."""
    label = _clean_name(name)
    lifetime = _check_days(days)
    if not staff.active:
        raise ValidationError(_("this staff member is deactivated"), field="username")
    now = now or utcnow()
    token = new_token()
    row = await ApiToken.create(
        staff=staff,
        name=label,
        token_hash=token_hash(keyring, token),
        created_at=now,
        expires_at=now + timedelta(days=lifetime),
    )
    await audit.record(
        "api_token.created",
        actor=actor,
        actor_label=source,
        object_type="api_token",
        object_id=row.id,
        unit_id=staff.unit_id,  # type: ignore[attr-defined]
        source=source,
        data={"staff": staff.id, "name": label, "days": lifetime},
    )
    return row, token


async def list_tokens(staff: Staff) -> list[ApiToken]:
    """``staff``'s tokens, newest first, revoked ones included (the hash is not for showing)."""
    return list(await ApiToken.filter(staff_id=staff.id).order_by("-id"))


async def revoke_token(
    token_id: int,
    *,
    actor: Staff | None = None,
    source: str = "cli",
    now: datetime | None = None,
) -> ApiToken:
    """Revoke a token at once: the next request with it gets 401."""
    now = now or utcnow()
    row = await ApiToken.get_or_none(id=token_id).prefetch_related("staff")
    if row is None:
        raise NotFound(_("no API token {token}"), token=token_id)
    revoked = await ApiToken.filter(id=token_id, revoked_at__isnull=True).update(revoked_at=now)
    if not revoked:
        raise Conflict(_("API token {token} is already revoked"), token=token_id)
    row.revoked_at = now
    await audit.record(
        "api_token.revoked",
        actor=actor,
        actor_label=source,
        object_type="api_token",
        object_id=row.id,
        unit_id=row.staff.unit_id,  # type: ignore[attr-defined]
        source=source,
        data={"staff": row.staff.id, "name": row.name},
    )
    return row


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if it has that shape."""
    if not header:
        return None
    scheme, _space, value = header.strip().partition(" ")
    token = value.strip()
    if scheme.lower() != "bearer" or not _TOKEN_SHAPE.match(token):
        return None
    return token


async def retry_after(ip: str | None, now: datetime) -> int:
    """Seconds ``ip`` must wait before its next authentication; 0: go ahead."""
    if not ip:
        return 0
    failures = AuditEvent.filter(action=AUTH_FAILED, ip=ip, at__gte=now - THROTTLE_WINDOW)
    return await backoff(failures, ADDRESS_FREE_FAILURES, now)


async def _refuse(reason: str, ip: str | None, row: ApiToken | None = None) -> InvalidToken:
    await audit.record(
        AUTH_FAILED,
        actor_label="api",
        object_type="api_token" if row is not None else None,
        object_id=row.id if row is not None else None,
        unit_id=row.staff.unit_id if row is not None else None,  # type: ignore[attr-defined]
        source="api",
        ip=ip,
        data={"reason": reason, "staff": row.staff.id if row is not None else None},
    )
    return InvalidToken()


async def authenticate(
    keyring: Keyring, header: str | None, *, ip: str | None = None, now: datetime | None = None
) -> Staff:
    """The active staff member whose valid token ``header`` carries; `InvalidToken` (audited
    with the reason) otherwise, or `Throttled` while ``ip`` must wait."""
    now = now or utcnow()
    wait = await retry_after(ip, now)
    if wait:
        raise Throttled(wait)
    token = bearer_token(header)
    if token is None:
        raise await _refuse("missing" if not (header or "").strip() else "malformed", ip)
    row = await ApiToken.get_or_none(token_hash=token_hash(keyring, token)).prefetch_related(
        "staff"
    )
    if row is None:
        raise await _refuse("unknown", ip)
    if row.revoked_at is not None:
        raise await _refuse("revoked", ip, row)
    if row.expires_at is not None and row.expires_at <= now:
        raise await _refuse("expired", ip, row)
    staff = row.staff
    if not staff.active:
        raise await _refuse("inactive", ip, row)
    if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:
        await ApiToken.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY),
            id=row.id,
        ).update(last_used_at=now)
    return staff


__all__ = [
    "ADDRESS_FREE_FAILURES",
    "AUTH_FAILED",
    "DEFAULT_DAYS",
    "TOKEN_PREFIX",
    "InvalidToken",
    "Throttled",
    "authenticate",
    "bearer_token",
    "create_token",
    "list_tokens",
    "retry_after",
    "revoke_token",
    "token_hash",
]
