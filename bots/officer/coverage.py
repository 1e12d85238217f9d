"""Coverage in the bot: ``/coverage`` (``/phusong``) shows which households of the officer's
commune the station reaches — per hamlet, through their own account or a shared one, and
confirmed for the latest alert — then the households not reached at all, the list for a home
visit. A supervisor names the commune: ``/coverage cu mgar``. The figures and the scope check
are `communepol.services.coverage`'s.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import for_staff, when
from communepol.db.models import Staff, UnitLevel
from communepol.services import coverage
from communepol.services.units import resolve_unit

router = Router()

VISIT_LIST = 15  # unreached households listed in one message


@router.command("coverage", "phusong")
@for_staff
async def show_coverage(turn: Turn, staff: Staff) -> None:
    turn.end()
    named = turn.event.args.strip()
    # A supervisor names the commune; an officer's is their own.
    commune = await resolve_unit(named, level=UnitLevel.COMMUNE) if named else None
    seen = await coverage.coverage(staff, commune.id if commune else staff.unit_id)  # type: ignore[attr-defined]

    def line(figures: coverage.Figures) -> str:
        return turn.gettext(
            "{name}: {registered} households · {own} own account · {shared} shared account · "
            "{unreached} not reached · {confirmed} confirmed the latest alert",
            name=figures.name,
            registered=figures.registered,
            own=figures.own,
            shared=figures.shared,
            unreached=figures.unreached,
            confirmed=figures.confirmed,
        )

    parts = [line(seen.commune), *(f"• {line(hamlet)}" for hamlet in seen.hamlets)]
    if seen.alerts:
        parts += ["", turn.gettext("Households confirmed told, by shared accounts, per alert:")]
        parts += [
            turn.gettext(
                "• {headline} ({sent}): {confirmed} of {shared}",
                headline=relay.headline,
                sent=when(turn, relay.sent_at),
                confirmed=relay.confirmed,
                shared=seen.commune.shared,
            )
            for relay in seen.alerts
        ]
    if seen.unreached:
        parts += ["", turn.gettext("Not reached (for a home visit):")]
        parts += [
            f"• {household.head_name}" + (f", {household.address}" if household.address else "")
            for household in seen.unreached[:VISIT_LIST]
        ]
        if len(seen.unreached) > VISIT_LIST:
            parts.append(
                turn.gettext("… and {count} more.", count=len(seen.unreached) - VISIT_LIST)
            )
    turn.say("\n".join(parts))
