"""Shared household accounts in the bot: the representative's side.

- **Linking**: the representative sends the code the officer gave them (``/link ABCD-EFGH``,
  or the code typed alone — `bots.officer.link` hands household codes over here). The bot
  says which group this account now speaks for and asks, one household at a time, whether it
  agreed: Agreed, Did not agree, Ask later. Where the account does not yet follow a page of
  the commune, it is offered.
- **The group** (``/household``, ``/hogiadinh``, "hộ gia đình"): the households, which are
  confirmed, and buttons to confirm the others, take one out, or hand the group over (a code
  for the next representative).
- **Own account**: a household's own code links this account to that household alone; it
  leaves its shared group.
- **Relays**: posts that must reach every household, and alerts, come to a shared account
  with a button "I have told the households"; it lists the households, each pressed when told,
  or all at once.

Button actions carry ids only: ``hh`` (the group), ``hhc:<member>:y|n|l`` (agreed, did not,
later), ``hhq:<group>`` (answer for the others), ``hhr:<group>[:<member>[:y]]`` (take one out),
``hhx:<group>`` (hand over), ``rly:<publication>[:<member>|:all]`` (told).
Whose households they are is checked by the service, so a forged payload finds nothing.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.resident.common import menu_buttons, when
from communepol.crypto import Keyring
from communepol.errors import NotFound, ValidationError
from communepol.ports import Button
from communepol.services import householdgroups
from communepol.services.householdgroups import GroupView, Member, Relay
from communepol.text import as_id

router = Router()

MAX_LISTED = 12  # households listed with a button in one message


def _ids(action: str | None) -> list[str]:
    return (action or "").split(":")[1:]


def _number(value: str) -> int | None:
    return as_id(value)


def _household_line(turn: Turn, member: Member) -> str:
    household = member.household
    line = turn.gettext(
        "{head} ({members} people), {hamlet}",
        head=household.head_name,
        members=household.members_count,
        hamlet=member.hamlet_name,
    )
    return f"{line}, {household.address}" if household.address else line


def _wrong_code(turn: Turn) -> None:
    turn.say(
        turn.gettext(
            "This code is wrong, already used or expired. Ask whoever manages the roster for "
            "a new one."
        )
    )


# --- linking ---------------------------------------------------------------------------------


async def link_group(turn: Turn, keyring: Keyring, code: str) -> None:
    """The code of a household group: this account becomes its shared account."""
    try:
        view = await householdgroups.link_representative(keyring, turn.contact, code)
    except ValidationError:
        _wrong_code(turn)
        return
    turn.end()
    turn.say(
        turn.ngettext(
            "This account now speaks for the group “{group}” of {commune}: {n} household. "
            "It will receive the police's news and alerts for it.",
            "This account now speaks for the group “{group}” of {commune}: {n} households. "
            "It will receive the police's news and alerts for all of them.",
            len(view.members),
            group=view.group.name,
            commune=view.commune.name,
        )
        + "\n"
        + turn.gettext(
            "Please ask each household whether it agrees to receive them through this account, "
            "then answer for each below. A household that does not agree is taken out."
        )
    )
    await _next_to_confirm(turn, view)


async def link_own(turn: Turn, keyring: Keyring, code: str) -> None:
    """A household's own code: this account becomes that household's own."""
    try:
        household = await householdgroups.link_own_account(keyring, turn.contact, code)
    except ValidationError:
        _wrong_code(turn)
        return
    turn.end()
    turn.say(
        turn.gettext(
            "This account is now the household of {head}'s own. It no longer needs a shared "
            "account: the police's news will come here.",
            head=household.head_name,
        ),
        buttons=menu_buttons(turn),
    )


async def _next_to_confirm(turn: Turn, view: GroupView) -> None:
    """Ask about the first household not confirmed yet; the summary when none is left."""
    if view.pending:
        member = view.pending[0]
        position = len(view.confirmed) + 1
        turn.say(
            turn.gettext(
                "Household {position} of {total}: {household}. Did it agree?",
                position=position,
                total=len(view.members),
                household=_household_line(turn, member),
            ),
            buttons=[
                [
                    Button(turn.gettext("Agreed"), f"hhc:{member.id}:y"),
                    Button(turn.gettext("Did not agree"), f"hhc:{member.id}:n"),
                ],
                [Button(turn.gettext("Ask later"), f"hhc:{member.id}:l")],
            ],
        )
        return
    lines = [
        turn.ngettext(
            "Done: {n} household of “{group}” is reached through this account.",
            "Done: {n} households of “{group}” are reached through this account.",
            len(view.confirmed),
            group=view.group.name,
        )
    ]
    buttons = [[Button(turn.gettext("The households"), "hh")]]
    pages = await householdgroups.pages_to_follow(turn.contact, view.commune)
    if pages:
        lines.append(
            turn.gettext(
                "This account does not follow {page} yet: follow it so the news reaches the "
                "households.",
                page=pages[0].title,
            )
        )
        buttons.insert(
            0, [Button(turn.gettext("Follow {page}", page=pages[0].title), f"follow:{pages[0].id}")]
        )
    turn.say("\n".join(lines), buttons=buttons)


@router.action("hhc")
async def confirm_answered(turn: Turn) -> None:
    parts = _ids(turn.event.action)
    member_id = _number(parts[0]) if parts else None
    answer = parts[1] if len(parts) > 1 else ""
    if member_id is None or answer not in ("y", "n", "l"):
        _gone(turn)
        return
    try:
        if answer == "l":
            groups = await householdgroups.represented(turn.contact)
            view = next(
                (view for view in groups if any(m.id == member_id for m in view.members)), None
            )
            if view is None:
                raise NotFound("not found")
            turn.say(
                turn.gettext(
                    "All right. Type /household when you have asked them, to answer for the "
                    "households still waiting."
                ),
                buttons=menu_buttons(turn),
            )
            return
        view = await householdgroups.confirm_member(
            turn.contact, member_id, agreed=answer == "y", locale=turn.locale
        )
    except NotFound:
        _gone(turn)
        return
    await _next_to_confirm(turn, view)


def _gone(turn: Turn) -> None:
    turn.say(
        turn.gettext("That household is not one this account speaks for (any more)."),
        buttons=[[Button(turn.gettext("The households"), "hh")]],
    )


# --- the group ---------------------------------------------------------------------------------


@router.command("household", "hogiadinh", "households")
@router.keyword("household", "households", "hộ gia đình", "các hộ")
@router.action("hh")
async def show_households(turn: Turn) -> None:
    turn.end()
    groups = await householdgroups.represented(turn.contact)
    if not groups:
        turn.say(
            turn.gettext(
                "This account does not speak for any household. If your commune police gave "
                "you a code for a group of households, send it here: /link ABCD-EFGH."
            ),
            buttons=menu_buttons(turn),
        )
        return
    for view in groups:
        lines = [
            turn.gettext(
                "“{group}” ({commune}): {confirmed} of {total} households confirmed.",
                group=view.group.name,
                commune=view.commune.name,
                confirmed=len(view.confirmed),
                total=len(view.members),
            )
        ]
        for number, member in enumerate(view.members[:MAX_LISTED], start=1):
            mark = "✓" if member.confirmed else "…"
            lines.append(f"{number}. {mark} {_household_line(turn, member)}")
        buttons = [[Button(turn.gettext("Remove a household"), f"hhr:{view.group.id}")]]
        if view.pending:
            buttons.insert(
                0, [Button(turn.gettext("Answer for the others"), f"hhq:{view.group.id}")]
            )
        buttons.append([Button(turn.gettext("Hand over to someone else"), f"hhx:{view.group.id}")])
        turn.say("\n".join(lines), buttons=buttons)


async def _own_view(turn: Turn, group_id: int | None) -> GroupView | None:
    for view in await householdgroups.represented(turn.contact):
        if view.group.id == group_id:
            return view
    _gone(turn)
    return None


@router.action("hhq")
async def answer_others(turn: Turn) -> None:
    parts = _ids(turn.event.action)
    view = await _own_view(turn, _number(parts[0]) if parts else None)
    if view is not None:
        await _next_to_confirm(turn, view)


@router.action("hhr")
async def remove_household(turn: Turn) -> None:
    """``hhr:<group>`` lists the households to choose from; ``hhr:<group>:<member>`` asks to
    make sure; ``hhr:<group>:<member>:y`` takes it out."""
    parts = _ids(turn.event.action)
    view = await _own_view(turn, _number(parts[0]) if parts else None)
    if view is None:
        return
    if len(parts) == 1:
        turn.say(
            turn.gettext("Which household should no longer be reached through this account?"),
            buttons=[
                [Button(member.household.head_name, f"hhr:{view.group.id}:{member.id}")]
                for member in view.members[:MAX_LISTED]
            ]
            + [[Button(turn.gettext("Cancel"), "hh")]],
        )
        return
    member = next((m for m in view.members if m.id == _number(parts[1])), None)
    if member is None:
        _gone(turn)
        return
    if parts[2:] != ["y"]:
        turn.say(
            turn.gettext(
                "Take the household of {head} out of “{group}”? It will no longer be counted as "
                "reached through this account.",
                head=member.household.head_name,
                group=view.group.name,
            ),
            buttons=[
                [
                    Button(turn.gettext("Take it out"), f"hhr:{view.group.id}:{member.id}:y"),
                    Button(turn.gettext("Cancel"), "hh"),
                ]
            ],
        )
        return
    await householdgroups.representative_remove(turn.contact, member.id, locale=turn.locale)
    turn.say(
        turn.gettext(
            "Done: the household of {head} is out of “{group}”. The commune police will see it "
            "as not reached.",
            head=member.household.head_name,
            group=view.group.name,
        ),
        buttons=[[Button(turn.gettext("The households"), "hh")]],
    )


@router.action("hhx")
async def hand_over(turn: Turn) -> None:
    parts = _ids(turn.event.action)
    view = await _own_view(turn, _number(parts[0]) if parts else None)
    if view is None or turn.services is None:
        return
    issued = await householdgroups.representative_handover_code(
        turn.services.keyring, turn.contact, view.group.id
    )
    turn.say(
        turn.gettext(
            "Give this code to the person who will receive the news for “{group}” from now "
            "on: {code}. They send it to this bot from their own account (/link {code}) before "
            "{expires}. Until then, this account stays the group's.",
            group=view.group.name,
            code=issued.code,
            expires=when(turn, issued.expires_at),
        )
    )


# --- relays --------------------------------------------------------------------------------------


@router.keyword("told", "i have told the households", "đã báo", "tôi đã báo cho các hộ")
async def told(turn: Turn) -> None:
    """ "told" typed (platforms without buttons): the latest message that asked for it."""
    publication_id = await householdgroups.latest_relay(turn.contact)
    if publication_id is None:
        turn.say(
            turn.gettext("No message is waiting for you to tell your households."),
            buttons=menu_buttons(turn),
        )
        return
    _say_relay(turn, await householdgroups.relay_status(turn.contact, publication_id))


@router.action("rly")
async def relay(turn: Turn) -> None:
    parts = _ids(turn.event.action)
    publication_id = _number(parts[0]) if parts else None
    if publication_id is None:
        _gone(turn)
        return
    try:
        if len(parts) == 1:
            status = await householdgroups.relay_status(turn.contact, publication_id)
        else:
            choice = None if parts[1] == "all" else [_number(parts[1]) or 0]
            status = await householdgroups.confirm_relay(turn.contact, publication_id, choice)
    except NotFound:
        _gone(turn)
        return
    _say_relay(turn, status)


def _say_relay(turn: Turn, status: Relay) -> None:
    remaining = status.remaining
    told = len(status.households) - len(remaining)
    if not remaining:
        turn.say(
            turn.ngettext(
                "Thank you: the household is recorded as told.",
                "Thank you: all {n} households are recorded as told.",
                len(status.households),
            ),
            buttons=menu_buttons(turn),
        )
        return
    lines = [
        turn.gettext(
            "Told so far: {told} of {total}. Press each household once you have told it, or "
            "“All of them”.",
            told=told,
            total=len(status.households),
        )
    ]
    buttons = [
        [Button(member.household.head_name, f"rly:{status.publication_id}:{member.id}")]
        for member in remaining[:MAX_LISTED]
    ]
    buttons.append([Button(turn.gettext("All of them"), f"rly:{status.publication_id}:all")])
    turn.say("\n".join(lines), buttons=buttons)
