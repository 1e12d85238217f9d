"""Rumour checks: many residents forward the same message; one verdict answers them all.

A rumour-check tip joins a `RumourCluster` of its province: the forwarded text is normalised
(`normalize`: case, diacritics, punctuation, spacing and link decorations folded away) and its
SHA-256 is the cluster's fingerprint, so "Công an  phát TIỀN!!" and "cong an phat tien" are one
rumour. A forward that is not identical but nearly so (word shingles overlapping by
`NEAR` or more with a recent cluster's text) joins that cluster too.

An officer gives the verdict — true, false, misleading or unverified — with an explanation, on
any tip of the cluster they may see (`Tips`' scope check). Every tip of the cluster is resolved
with it and each sender is told through the vault, in their language; a forward arriving after
the verdict is answered with it at once. The verdict can also become a rumour-check post on the
page of the officer's commune (a draft submitted the normal way: approval rules apply).
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from tortoise.transactions import in_transaction

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    OPEN_TIP_STATUSES,
    Page,
    RumourCluster,
    RumourVerdict,
    Staff,
    Tip,
    TipCategory,
    TipEvent,
    TipStatus,
    Unit,
)
from communepol.errors import Conflict, NotFound, ValidationError
from communepol.i18n import N_, I18n, _
from communepol.ports import OutboundMessage
from communepol.services import audit, notices, vault
from communepol.settings import Settings
from communepol.text import clean_message, fold

NEAR = 0.8  # shingle overlap that counts as the same rumour
SHINGLE = 3  # words per shingle
RECENT = timedelta(days=30)  # clusters compared for near-identical forwards
CANDIDATES = 300
MAX_EXPLANATION = 2000

VERDICT_LABELS = {
    RumourVerdict.TRUE: N_("True"),
    RumourVerdict.FALSE: N_("False"),
    RumourVerdict.MISLEADING: N_("Misleading"),
    RumourVerdict.UNVERIFIED: N_("Not verified yet"),
}
VERDICT_NEWS = N_(
    "About the message you asked us to check ({reference}): {verdict}.\n{explanation}"
)

_LINK = re.compile(r"https?://(www\.)?|[?#].*?(?=\s|$)")


def normalize(text: str) -> str:
    """The form two forwards of one rumour share: folded, links without scheme, "www." or
    tracking query, words only, single spaces."""
    bare = _LINK.sub(" ", clean_message(text).lower())
    return " ".join(re.sub(r"[^\w]+", " ", fold(bare)).split())


def fingerprint(text: str) -> str:
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def _shingles(normalized: str) -> set[str]:
    words = normalized.split()
    if len(words) < SHINGLE:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of the word shingles of two normalised texts."""
    left, right = _shingles(a), _shingles(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def province_of(unit: Unit) -> int:
    parts = [int(part) for part in unit.path.strip("/").split("/") if part]
    return parts[0] if parts else unit.id


async def _cluster_for(unit: Unit, text: str, tip_id: int) -> RumourCluster:
    province = province_of(unit)
    normalized = normalize(text)
    if not normalized:
        # Nothing to compare (a bare image): a cluster of its own.
        return await RumourCluster.create(
            scope_unit_id=province, fingerprint=f"tip:{tip_id}", normalized=""
        )
    key = hashlib.sha256(normalized.encode()).hexdigest()
    existing = await RumourCluster.get_or_none(scope_unit_id=province, fingerprint=key)
    if existing is not None:
        return existing
    recent = (
        await RumourCluster.filter(scope_unit_id=province, created_at__gte=utcnow() - RECENT)
        .exclude(normalized="")
        .order_by("-id")
        .limit(CANDIDATES)
    )
    best = max(recent, key=lambda c: similarity(normalized, c.normalized), default=None)
    if best is not None and similarity(normalized, best.normalized) >= NEAR:
        return best
    cluster, _created = await RumourCluster.get_or_create(
        scope_unit_id=province, fingerprint=key, defaults={"normalized": normalized}
    )
    return cluster


async def join_cluster(keyring: Keyring, tip: Tip, unit: Unit) -> bool:
    """Put a new rumour-check tip in its cluster (inside the intake's transaction). When the
    cluster already has a verdict, the tip is answered and resolved at once: True."""
    cluster = await _cluster_for(unit, tip.text, tip.id)
    tip.rumour_cluster = cluster
    await Tip.filter(id=tip.id).update(rumour_cluster_id=cluster.id)
    if cluster.verdict is None:
        return False
    await _answer(keyring, tip, cluster, actor=None)
    return True


async def _answer(
    keyring: Keyring, tip: Tip, cluster: RumourCluster, *, actor: Staff | None
) -> None:
    """Resolve ``tip`` with the cluster's verdict and tell its sender."""
    assert cluster.verdict is not None
    now = utcnow()
    before = tip.status
    outcome = f"{cluster.verdict.value}: {cluster.explanation or ''}".strip()
    await Tip.filter(id=tip.id).update(
        status=TipStatus.RESOLVED,
        outcome=outcome[:MAX_EXPLANATION],
        resolved_at=now,
        first_response_at=tip.first_response_at or now,
    )
    tip.status = TipStatus.RESOLVED
    await TipEvent.create(
        tip=tip,
        kind="status",
        actor=actor,
        data={"from": before.value, "to": "resolved", "action": "verdict", "cluster": cluster.id},
    )
    verdict, explanation = cluster.verdict, cluster.explanation or ""

    # Named outside the gettext call: the catalog extractor warns about an f-string inside one.
    reference = f"T-{tip.reference}"

    def compose(locale: str | None) -> OutboundMessage:
        catalog: I18n = notices.catalog()
        lang = catalog.normalize_locale(locale)
        return OutboundMessage(
            text=catalog.gettext(
                lang,
                VERDICT_NEWS,
                reference=reference,
                verdict=catalog.gettext(lang, VERDICT_LABELS[verdict]),
                explanation=explanation,
            )
        )

    await vault.tell_tipster(keyring, tip, compose, f"verdict:{cluster.id}")


async def give_verdict(
    keyring: Keyring,
    staff: Staff,
    tip_ref: int | str,
    verdict: RumourVerdict | str,
    explanation: str,
    *,
    source: str = "bot",
) -> tuple[RumourCluster, int]:
    """Decide the rumour of ``tip_ref`` (a tip ``staff`` may see); every open tip of its
    cluster is answered. Returns the cluster and how many residents were answered."""
    from communepol.services.tips import access_tip  # tips imports this module

    tip = await access_tip(staff, tip_ref)
    if tip.category is not TipCategory.RUMOUR_CHECK or tip.rumour_cluster_id is None:  # type: ignore[attr-defined]
        raise ValidationError(_("only a rumour check gets a verdict"), field="tip")
    try:
        value = RumourVerdict(verdict)
    except ValueError as err:
        raise ValidationError(_("true, false, misleading or unverified"), field="verdict") from err
    text = clean_message(explanation)
    if not text:
        raise ValidationError(_("explain the verdict in a sentence"), field="explanation")
    if len(text) > MAX_EXPLANATION:
        raise ValidationError(
            _("at most {limit} characters"), field="explanation", limit=MAX_EXPLANATION
        )
    async with in_transaction(raw.connection(Tip).connection_name):
        cluster = await RumourCluster.get(id=tip.rumour_cluster_id)  # type: ignore[attr-defined]
        if cluster.verdict is not None:
            raise Conflict(_("this rumour already has a verdict"))
        cluster.verdict = value
        cluster.explanation = text
        cluster.decided_by = staff
        cluster.decided_at = utcnow()
        await cluster.save()
        waiting = await Tip.filter(
            rumour_cluster_id=cluster.id, status__in=OPEN_TIP_STATUSES
        ).order_by("id")
        for member in waiting:
            await _answer(keyring, member, cluster, actor=staff)
        await audit.record(
            "rumour.verdict",
            actor=staff,
            object_type="rumour_cluster",
            object_id=cluster.id,
            unit_id=tip.unit_id,
            source=source,
            data={"verdict": value.value, "answered": len(waiting)},
        )
    return cluster, len(waiting)


async def publish_verdict(
    staff: Staff, tip_ref: int | str, i18n: I18n, settings: Settings, *, source: str = "bot"
) -> int:
    """Turn the decided rumour of ``tip_ref`` (a tip ``staff`` may see) into a rumour-check
    post on the page of ``staff``'s unit (or the nearest page above it), once; the post's id.
    Approval rules of the page apply."""
    from communepol.services import posts  # posts is heavier; only this path needs it
    from communepol.services.tips import access_tip  # tips imports this module

    tip = await access_tip(staff, tip_ref)
    cluster = await RumourCluster.get_or_none(id=tip.rumour_cluster_id)  # type: ignore[attr-defined]
    if cluster is None or cluster.verdict is None:
        raise Conflict(_("this rumour has no verdict yet"))
    if cluster.post_id is not None:
        raise Conflict(_("this verdict was already written as post #{post}"), post=cluster.post_id)
    page = await _page_for(staff, await Unit.get(id=tip.unit_id))  # type: ignore[attr-defined]
    if page is None:
        raise NotFound(_("no page to publish on"))
    sample = await Tip.filter(rumour_cluster_id=cluster.id).order_by("id").first()
    quoted = sample.text if sample is not None else ""
    locale = page.default_locale
    title = i18n.gettext(
        locale,
        "Rumour check: {verdict}",
        verdict=i18n.gettext(locale, VERDICT_LABELS[cluster.verdict]),
    )
    body = i18n.gettext(
        locale,
        "Residents asked us about this message:\n“{quoted}”\n\n{verdict}: {explanation}",
        quoted=quoted[:600],
        verdict=i18n.gettext(locale, VERDICT_LABELS[cluster.verdict]),
        explanation=cluster.explanation or "",
    )
    data = posts.PostInput(
        category="rumour_check", translations=[posts.Translation(locale, title, body)]
    )
    async with in_transaction(raw.connection(RumourCluster).connection_name):
        # Claimed first, so a second press does not write a second post.
        claimed = await RumourCluster.filter(id=cluster.id, post_id__isnull=True).update(post_id=0)
        if not claimed:
            raise Conflict(_("this verdict was already written as a post"))
        post = await posts.create_post(staff, page.id, data, settings, source=source)
        post = await posts.submit_post(staff, post.id, settings, source=source)
        await RumourCluster.filter(id=cluster.id).update(post_id=post.id)
    return post.id


async def _page_for(staff: Staff, tip_unit: Unit) -> Page | None:
    """The page a verdict is published on: the staff member's own unit's; else the nearest
    page above the tip's commune that is still in their subtree (a district supervisor whose
    district has no page publishes on the commune's). Never a page above their own unit:
    they may not post there."""
    own = staff.unit_id  # type: ignore[attr-defined]
    lineage = [tip_unit.id, *reversed([int(p) for p in tip_unit.path.strip("/").split("/") if p])]
    chain = [own, *lineage[: lineage.index(own)]] if own in lineage else [own]
    for unit_id in chain:
        page = await Page.filter(unit_id=unit_id).order_by("id").first()
        if page is not None:
            return page
    return None
