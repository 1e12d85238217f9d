"""Shared household accounts from the officer's phone.

- ``/group`` (``/nhomho``): a new group — the hamlet (buttons), then the households that share
  one account (typed numbers, "1 3 5"), then the group's name (or the suggested one). The bot
  answers with the one-time link code the officer gives the representative, who sends it to
  the bot (``/link ABCD-EFGH``) and then confirms each household.
- ``/groups`` (``/cacnhom``): the commune's groups, how many households agreed, and a button
  for a new code (a handover to another representative, or a lost code).
- ``/addhousehold`` (``/themho``): register households from the phone — the hamlet, then one
  household per message, "head, people[, address[, phone]]", as many as the officer types, until
  ``/done``; each is checked like a row of the station's CSV file.

A supervisor names the commune: ``/group cu mgar``. What the officer may touch is decided by
`communepol.services.householdgroups` (scope), so a forged button finds nothing.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import (
    FLOW_PREFIX,
    cancel_row,
    for_staff,
    number,
    reference,
    services,
    when,
)
from communepol.db.models import Staff, UnitLevel
from communepol.errors import Conflict, ValidationError
from communepol.ports import Button
from communepol.services import householdgroups, households
from communepol.services.units import resolve_unit
from communepol.text import fold

router = Router()

FLOW = f"{FLOW_PREFIX}group"
PICK = "pick"
NAME = "name"
ADD_FLOW = f"{FLOW_PREFIX}household"
ADDING = "adding"
MAX_LISTED = 30  # households listed to choose from (a group holds at most 30)
MAX_HAMLETS = 8
CANCEL_WORDS = frozenset(fold(word) for word in ("cancel", "hủy", "huỷ", "thôi"))


async def _commune_id(turn: Turn, staff: Staff) -> int:
    named = turn.event.args.strip() if turn.event.args else ""
    if named:
        return (await resolve_unit(named, level=UnitLevel.COMMUNE)).id
    return int(staff.unit_id)  # type: ignore[attr-defined]


def _cancelled(turn: Turn) -> None:
    turn.end()
    turn.say(turn.gettext("Cancelled: no group was made."))


@router.command("group", "nhomho")
@for_staff
async def new_group(turn: Turn, staff: Staff) -> None:
    turn.end()
    commune_id = await _commune_id(turn, staff)
    free = await householdgroups.ungrouped(staff, commune_id)
    if not free:
        turn.say(
            turn.gettext(
                "No household is waiting for a group here. Register households first "
                "(the admin web, or the station's CSV file)."
            )
        )
        return
    turn.go(FLOW, PICK, commune=commune_id)
    turn.say(
        turn.gettext("A new group of households sharing one account. Which hamlet?"),
        buttons=[
            [Button(f"{hamlet.name} ({len(homes)})", f"ogh:{hamlet.id}")]
            for hamlet, homes in list(free.items())[:MAX_HAMLETS]
        ]
        + [cancel_row(turn, "ogx")],
    )


@router.action("ogx")
@for_staff
async def cancel(turn: Turn, staff: Staff) -> None:
    _cancelled(turn)


@router.action("ogh")
@for_staff
async def hamlet_chosen(turn: Turn, staff: Staff) -> None:
    hamlet_id = reference(turn.event.action, 1)
    if turn.flow != FLOW or hamlet_id is None:
        _cancelled(turn)
        return
    free = await householdgroups.ungrouped(staff, int(turn.data["commune"]))
    homes = next((homes for hamlet, homes in free.items() if hamlet.id == hamlet_id), [])
    if not homes:
        _cancelled(turn)
        return
    shown = homes[:MAX_LISTED]
    turn.go(FLOW, PICK, hamlet=hamlet_id, households=[h.id for h in shown])
    listing = [
        f"{index}. {h.head_name}" + (f", {h.address}" if h.address else "")
        for index, h in enumerate(shown, start=1)
    ]
    # No button here: a typed "1" would press it instead of choosing household 1.
    turn.say(
        "\n".join(
            [
                turn.gettext(
                    "Type the numbers of the households that will share one account, for "
                    "example 1 3 5 (or “cancel”):"
                ),
                *listing,
            ]
        )
    )


@router.step(FLOW, PICK)
@for_staff
async def numbers_typed(turn: Turn, staff: Staff) -> None:
    offered: list[int] = list(turn.data.get("households") or [])
    if fold(turn.event.text or "") in CANCEL_WORDS:
        _cancelled(turn)
        return
    typed = (turn.event.text or "").replace(",", " ").split()
    chosen = [number(word) for word in typed]
    if not offered or not typed or any(n is None or not 1 <= n <= len(offered) for n in chosen):
        turn.say(turn.gettext("Type numbers from the list, for example 1 3 5."))
        return
    picked = list(dict.fromkeys(offered[n - 1] for n in chosen if n is not None))
    turn.go(FLOW, NAME, picked=picked)
    free = await householdgroups.ungrouped(staff, int(turn.data["commune"]))
    hamlet = next((h for h in free if h.id == turn.data.get("hamlet")), None)
    suggested = turn.gettext("Group of {hamlet}", hamlet=hamlet.name if hamlet else "")
    turn.data["suggested"] = suggested[:200]
    turn.say(
        turn.ngettext(
            "{n} household. What is the group called? Type a name, or press the one suggested.",
            "{n} households. What is the group called? Type a name, or press the one suggested.",
            len(picked),
        ),
        buttons=[[Button(suggested[:60], "ogn")], cancel_row(turn, "ogx")],
    )


@router.action("ogn")
@for_staff
async def suggested_name(turn: Turn, staff: Staff) -> None:
    if turn.flow != FLOW or turn.step != NAME:
        _cancelled(turn)
        return
    await _create(turn, staff, str(turn.data.get("suggested") or ""))


@router.step(FLOW, NAME)
@for_staff
async def name_typed(turn: Turn, staff: Staff) -> None:
    await _create(turn, staff, turn.event.text or "")


async def _create(turn: Turn, staff: Staff, name: str) -> None:
    try:
        group, issued = await householdgroups.create_group(
            services(turn).keyring,
            staff,
            int(turn.data["commune"]),
            name,
            [int(value) for value in turn.data.get("picked") or []],
            source="bot",
        )
    except ValidationError as err:
        if err.field == "name":
            turn.say(turn.gettext("Type a name of at most 200 characters."))
            return
        raise
    except Conflict as err:
        turn.end()
        turn.say(turn.gettext("Sorry, that did not work: {reason}", reason=turn.error_text(err)))
        return
    turn.end()
    turn.say(_code_text(turn, group.name, issued))


def _code_text(turn: Turn, name: str, issued: householdgroups.IssuedCode) -> str:
    return turn.gettext(
        "Group “{group}”: give its representative this code: {code}. They send it to this "
        "bot from the shared account (/link {code}) before {expires}, then confirm each "
        "household. The code works once.",
        group=name,
        code=issued.code,
        expires=when(turn, issued.expires_at),
    )


@router.command("groups", "cacnhom")
@for_staff
async def list_groups(turn: Turn, staff: Staff) -> None:
    turn.end()
    groups = await householdgroups.groups_of(staff, await _commune_id(turn, staff))
    if not groups:
        turn.say(turn.gettext("No household group yet. Type /group to make one."))
        return
    for view in groups[:MAX_HAMLETS]:
        state = (
            turn.gettext("representative linked")
            if view.linked
            else turn.gettext("waiting for the representative's code")
        )
        turn.say(
            turn.gettext(
                "“{group}”: {confirmed} of {total} households agreed · {state}",
                group=view.group.name,
                confirmed=len(view.confirmed),
                total=len(view.members),
                state=state,
            ),
            buttons=[[Button(turn.gettext("New code (handover)"), f"ogc:{view.group.id}")]],
        )


@router.action("ogc")
@for_staff
async def new_code(turn: Turn, staff: Staff) -> None:
    group_id = reference(turn.event.action, 1)
    if group_id is None:
        _cancelled(turn)
        return
    issued = await householdgroups.issue_handover_code(
        services(turn).keyring, staff, group_id, source="bot"
    )
    view = await householdgroups.group_detail(staff, group_id)
    turn.say(_code_text(turn, view.group.name, issued))


# --- registering households ------------------------------------------------------------------


@router.command("addhousehold", "themho")
@for_staff
async def add_households(turn: Turn, staff: Staff) -> None:
    turn.end()
    commune_id = await _commune_id(turn, staff)
    hamlets = await households.hamlets_in(staff, commune_id)
    if not hamlets:
        turn.say(
            turn.gettext(
                "This commune has no hamlet yet: the server's operator adds them "
                "(communepol units add-hamlet)."
            )
        )
        return
    turn.go(ADD_FLOW, ADDING, commune=commune_id)
    turn.say(
        turn.gettext("Register households. Which hamlet?"),
        buttons=[[Button(hamlet.name, f"oah:{hamlet.id}")] for hamlet in hamlets[:MAX_HAMLETS]]
        + [cancel_row(turn, "oax")],
    )


@router.action("oax")
@for_staff
async def stop_adding(turn: Turn, staff: Staff) -> None:
    added = int(turn.data.get("added") or 0) if turn.flow == ADD_FLOW else 0
    turn.end()
    turn.say(
        turn.ngettext("Done: {n} household registered.", "Done: {n} households registered.", added)
    )


@router.command("done", "xong")
@for_staff
async def done_adding(turn: Turn, staff: Staff) -> None:
    if turn.flow != ADD_FLOW:
        turn.say(turn.gettext("Nothing to finish: type /addhousehold to register households."))
        return
    await stop_adding(turn)


@router.action("oah")
@for_staff
async def adding_hamlet(turn: Turn, staff: Staff) -> None:
    hamlet_id = reference(turn.event.action, 1)
    if turn.flow != ADD_FLOW or hamlet_id is None:
        turn.end()
        turn.say(turn.gettext("Type /addhousehold to start again."))
        return
    hamlet = await households.hamlet_in_scope(staff, hamlet_id)
    turn.go(ADD_FLOW, ADDING, hamlet=hamlet.id, hamlet_name=hamlet.name)
    turn.say(
        turn.gettext(
            "{hamlet}: type one household per message — head of household, number of people, "
            "then the address and phone if you have them, separated by commas. For example: "
            "Y Kông Êban, 6, Nhà 3, 0912345678. Type /done when finished.",
            hamlet=hamlet.name,
        ),
        buttons=[[Button(turn.gettext("Finished"), "oax")]],
    )


@router.step(ADD_FLOW, ADDING)
@for_staff
async def household_typed(turn: Turn, staff: Staff) -> None:
    hamlet_id = turn.data.get("hamlet")
    if hamlet_id is None:
        turn.say(turn.gettext("First choose the hamlet."))
        return
    parts = [part.strip() for part in (turn.event.text or "").split(",")]
    members = number(parts[1]) if len(parts) > 1 else None
    if len(parts) < 2 or not parts[0] or members is None or len(parts) > 4:
        turn.say(
            turn.gettext(
                "Type it as: head of household, number of people[, address[, phone]] — for "
                "example Y Kông Êban, 6, Nhà 3."
            )
        )
        return
    try:
        household = await households.add_household(
            staff,
            int(hamlet_id),
            head_name=parts[0],
            members_count=members,
            address=parts[2] if len(parts) > 2 else "",
            phone=parts[3] if len(parts) > 3 else None,
            source="bot",
        )
    except (ValidationError, Conflict) as err:
        turn.say(turn.gettext("Not registered: {reason}", reason=turn.error_text(err)))
        return
    turn.data["added"] = int(turn.data.get("added") or 0) + 1
    turn.say(
        turn.gettext(
            "Registered: {head}, {members} people, {hamlet}. Type the next one, or /done.",
            head=household.head_name,
            members=household.members_count,
            hamlet=turn.data.get("hamlet_name") or "",
        ),
        buttons=[[Button(turn.gettext("Finished"), "oax")]],
    )
