"""Fan-out: a publication becomes one outbox row per follower, in bulk, inside the caller's
transaction — one ``INSERT … SELECT`` over the page's active follows, never a row built in
Python per follower.

- Who: contacts with an active follow of the page, on an account that carries the page,
  reachable and not erased. A contact is one account — a shared household account is one
  contact however many households stand behind it — so it gets one row.
- What: the message is stored once per language on the publication (`Publication.messages`);
  a row names only its language (``{"from_publication": "en"}``) and the dispatcher's claim
  puts the text back. A follower whose language has no translation gets the page's language.
- Once: the dedup key is the audience's prefix plus the contact (``pub:12:c:345``), so a second
  run plans nothing new, and an alert sent to several pages (prefix ``alert:7``) reaches a
  person following two of them once.
- Community groups linked to the page's unit that take the post's category get a row each.
- Shared household accounts: for an alert or a post that must reach every household, a shared
  account's row names its language's *relay* variant (``"vi+relay"``), the message with a button
  "I have told the households" (`householdgroups.relay_messages`) — still in the one INSERT.
- Zalo OA promotion quotas: on an OA whose monthly quota staff have set, rows beyond what is
  left this month are planned as ``quota_blocked`` with the reason, in the same INSERT (the
  followers numbered per account), so a post's statistics say what the quota stopped instead
  of the platform silently refusing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q

from communepol.db import raw
from communepol.db.models import (
    PRIORITY_OF_KIND,
    ChannelAccount,
    ChannelKind,
    CommunityGroup,
    ContactKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
)
from communepol.ports import OutboundMessage
from communepol.services import outbox
from communepol.services.outbox import FROM_PUBLICATION, Planned

QUOTA_REASON = "the Zalo OA's monthly promotion quota is used up"
# A publication's message key for shared household accounts: "<locale>+relay".
RELAY_SUFFIX = "+relay"


@dataclass(frozen=True)
class Audience:
    """One page's share of a publication."""

    publication_id: int
    page_id: int
    unit_id: int
    category: str
    kind: DeliveryKind
    dedup_prefix: str  # "pub:12" for a post, "alert:7" for every page of one alert
    default_locale: str
    locales: tuple[str, ...]  # the languages the publication's messages exist in
    not_before: datetime
    relay: bool = False  # shared household accounts get the "+relay" variant


_FOLLOWERS = """
INSERT INTO delivery (channel_account_id, contact_id, kind, priority, dedup_key, payload,
                      publication_id, status, last_error, attempts, not_before, created_at)
SELECT c.account_id, c.contact_id, :kind, :priority,
       CAST(:prefix AS TEXT) || CAST(c.contact_id AS TEXT),
       {payload}, :publication, {status}, {error}, 0, :not_before, :now
  FROM (SELECT c.channel_account_id AS account_id, c.id AS contact_id, c.locale AS locale,
               c.kind AS kind{seq}
          FROM follow f
          JOIN contact c ON c.id = f.contact_id
         WHERE f.page_id = :page AND f.status = 'active'
           AND c.reachability != 'unreachable' AND c.erased_at IS NULL
           AND c.channel_account_id IN (SELECT channel_account_id FROM page_channel
                                         WHERE page_id = :page)) AS c
 WHERE 1 = 1  -- SQLite reads "ON CONFLICT" after a bare FROM as a join's ON without a WHERE
ON CONFLICT (dedup_key) DO NOTHING
"""
# Followers numbered per account, for the quota: the first ``room`` of an OA are sent.
_SEQ = ", ROW_NUMBER() OVER (PARTITION BY c.channel_account_id ORDER BY c.id) AS seq"


def _quota_sql(room: Mapping[int, int]) -> tuple[str, str, str, dict[str, Any]]:
    """The ``seq`` column, the status and the error of each row, and their parameters: rows
    beyond an OA's room are planned ``quota_blocked`` with the reason, in the same INSERT."""
    if not room:
        return "", "'pending'", "NULL", {}
    params: dict[str, Any] = {"quota_reason": QUOTA_REASON}
    beyond = []
    for number, (account_id, left) in enumerate(sorted(room.items())):
        params[f"quota_account_{number}"] = account_id
        params[f"quota_room_{number}"] = left
        beyond.append(f"(c.account_id = :quota_account_{number} AND c.seq > :quota_room_{number})")
    blocked = " OR ".join(beyond)
    status = f"CASE WHEN {blocked} THEN 'quota_blocked' ELSE 'pending' END"
    error = f"CASE WHEN {blocked} THEN :quota_reason END"
    return _SEQ, status, error, params


def payload_sql(
    locales: Sequence[str], default_locale: str, *, relay: bool = False
) -> tuple[str, dict[str, str]]:
    """The per-row payload for rows joined to their contact as ``c``: a CASE on the contact's
    language, each branch a bound JSON text naming the language; a group (no contact) or an
    untranslated language gets ``default_locale``. With ``relay``, shared household accounts
    name the language's relay variant."""
    plain, params = _locale_case(locales, default_locale, "")
    if not relay:
        return plain, params
    shared, relay_params = _locale_case(locales, default_locale, RELAY_SUFFIX)
    params |= relay_params
    params["shared_kind"] = ContactKind.SHARED_HOUSEHOLD.value
    return f"CASE WHEN c.kind = :shared_kind THEN {shared} ELSE {plain} END", params


def _locale_case(
    locales: Sequence[str], default_locale: str, suffix: str
) -> tuple[str, dict[str, str]]:
    tag = "relay_" if suffix else ""
    params: dict[str, str] = {}
    branches = []
    for number, locale in enumerate(locales):
        if locale == default_locale:
            continue
        params[f"{tag}locale_{number}"] = locale
        params[f"{tag}payload_{number}"] = f'{{"{FROM_PUBLICATION}": "{locale}{suffix}"}}'
        branches.append(f"WHEN :{tag}locale_{number} THEN CAST(:{tag}payload_{number} AS {{json}})")
    params[f"{tag}payload_default"] = f'{{"{FROM_PUBLICATION}": "{default_locale}{suffix}"}}'
    fallback = f"CAST(:{tag}payload_default AS {{json}})"
    if not branches:
        return fallback, params
    return f"CASE c.locale {' '.join(branches)} ELSE {fallback} END", params


async def plan_followers(
    audience: Audience, now: datetime, room: Mapping[int, int] | None = None
) -> int:
    """Plan a row for every follower of the page, those beyond an OA's ``room`` (see
    `promotion_room`) as ``quota_blocked``; how many new rows."""
    payload, params = payload_sql(audience.locales, audience.default_locale, relay=audience.relay)
    seq, status, error, quota_params = _quota_sql(room or {})
    query = (
        _FOLLOWERS.replace("{payload}", payload)
        .replace("{seq}", seq)
        .replace("{status}", status)
        .replace("{error}", error)
    )
    return await raw.execute(
        Delivery,
        query,
        kind=audience.kind.value,
        priority=int(PRIORITY_OF_KIND[audience.kind]),
        prefix=f"{audience.dedup_prefix}:c:",
        publication=audience.publication_id,
        not_before=audience.not_before,
        now=now,
        page=audience.page_id,
        **params,
        **quota_params,
    )


async def plan_groups(
    audience: Audience, messages: Mapping[str, OutboundMessage], account_ids: list[int]
) -> int:
    """Plan a row for each active community group of the page's unit that takes this category
    and is on an account carrying the page (groups read the page's language)."""
    groups = await CommunityGroup.filter(
        unit_id=audience.unit_id, active=True, channel_account_id__in=account_ids
    )
    message = messages[audience.default_locale]
    return await outbox.enqueue_many(
        Planned(
            channel_account_id=group.channel_account_id,  # type: ignore[attr-defined]
            message=message,
            kind=audience.kind,
            dedup_key=f"{audience.dedup_prefix}:g:{group.id}",
            group_id=group.id,
            publication_id=audience.publication_id,
            not_before=audience.not_before,
        )
        for group in groups
        if audience.category in (group.categories or [])
    )


def _month_start(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def promotion_room(
    publication_id: int, account_ids: list[int], now: datetime, tz: ZoneInfo
) -> dict[int, int]:
    """For each Zalo OA among ``account_ids`` whose monthly promotion quota staff have set, how
    many more broadcast or alert messages it may send this month (Vietnam's calendar month)."""
    limited = await ChannelAccount.filter(
        id__in=account_ids, kind=ChannelKind.ZALO_OA, monthly_promotion_quota__not_isnull=True
    )
    room = {}
    for account in limited:
        used = (
            await Delivery.filter(
                channel_account_id=account.id,
                kind__in=(DeliveryKind.BROADCAST, DeliveryKind.ALERT),
                created_at__gte=_month_start(now, tz),
                status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SENT),
                contact_id__not_isnull=True,
            )
            # Not this publication's own rows (a NULL publication is another message).
            .filter(Q(publication_id__isnull=True) | ~Q(publication_id=publication_id))
            .count()
        )
        room[account.id] = max(0, (account.monthly_promotion_quota or 0) - used)
    return room


async def note_quota_blocked(publication_id: int, room: Mapping[int, int]) -> int:
    """Tell staff, on each OA, that its quota blocked rows of this publication; how many."""
    blocked = 0
    for account_id in room:
        count = await Delivery.filter(
            publication_id=publication_id,
            channel_account_id=account_id,
            status=DeliveryStatus.QUOTA_BLOCKED,
        ).count()
        if count:
            await outbox.note_account_error(account_id, QUOTA_REASON)
        blocked += count
    return blocked
