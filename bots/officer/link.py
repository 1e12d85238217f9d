"""Linking a bot identity to a staff member: ``/link ABCD-EFGH`` (``/lienket``, or "liên kết
ABCD-EFGH" typed), ``/unlink`` (``/huylienket``) to stop, and ``/officer`` (``/canbo``) for
the list of officer commands.

The code is the one-time code printed when the person was put on the roster; a household
group's code, or a household's own, is handed to `bots.resident.household` (the same command
for a village representative: one thing to remember, "send the code to the bot"). A wrong, used or
expired code gets one answer, whichever it was. Linking is the one officer command anyone can
use — it is how someone becomes staff in the bot; "liên kết" followed by something that is not
a code is an ordinary message (a resident asking about a suspicious link), not a failed link.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import for_staff
from bots.resident import household
from bots.resident.common import not_understood
from communepol.db.models import LinkPurpose, Staff
from communepol.errors import ValidationError
from communepol.i18n import ROLE_LABELS
from communepol.ports import InboundKind
from communepol.services import householdgroups, officers
from communepol.services.staff import LINK_CODE_ALPHABET, LINK_CODE_LENGTH, normalize_link_code

router = Router()


def looks_like_code(text: str) -> bool:
    bare = normalize_link_code(text).replace("-", "")
    return len(bare) == LINK_CODE_LENGTH and all(char in LINK_CODE_ALPHABET for char in bare)


def officer_commands(turn: Turn) -> str:
    return turn.gettext(
        "Commands: /duty on and /duty off for your shift, /tips for the open tips (/tips "
        "mine, /tips overdue), /viewtip T-7K3M9P to open one, /post to write a post, /alert to "
        "send an alert, /found to end an alert, /update to update one, /approve for what "
        "waits for your approval, /stats for your latest post's figures, /coverage for the "
        "households you reach, /addhousehold to register households, /group to make a group of "
        "households sharing one account, /groups for the groups, /reveal to ask who sent an "
        "anonymous tip, /officer for this list."
    )


@router.command("link", "lienket")
@router.phrase("liên kết", "link")
async def link(turn: Turn) -> None:
    code = turn.event.args.strip()
    typed = turn.event.kind is InboundKind.TEXT
    if turn.services is None or turn.event.chat_id is None or (typed and not looks_like_code(code)):
        await not_understood(turn)
        return
    if not code:
        turn.say(
            turn.gettext(
                "Type /link followed by the code you were given, for example /link ABCD-EFGH."
            )
        )
        return
    keyring = turn.services.keyring
    purpose = await householdgroups.code_purpose(keyring, code)
    if purpose is LinkPurpose.HOUSEHOLD_GROUP:
        await household.link_group(turn, keyring, code)
        return
    if purpose is LinkPurpose.HOUSEHOLD:
        await household.link_own(turn, keyring, code)
        return
    try:
        staff = await officers.link_identity(
            turn.services.keyring, turn.account.id, turn.event.chat_id, code
        )
    except ValidationError:
        turn.say(
            turn.gettext(
                "This code is wrong, already used or expired. Ask whoever manages the roster "
                "for a new one."
            )
        )
        return
    turn.end()
    unit = await officers.unit_of(staff)
    turn.say(
        turn.gettext(
            "Linked: here you act as {name}, {role} of {unit}.",
            name=staff.full_name,
            role=turn.gettext(ROLE_LABELS[staff.role.value]),
            unit=unit.name,
        )
        + "\n"
        + officer_commands(turn)
    )


@router.command("officer", "canbo")
@for_staff
async def commands(turn: Turn, staff: Staff) -> None:
    turn.say(officer_commands(turn))


@router.command("unlink", "huylienket")
@for_staff
async def unlink(turn: Turn, staff: Staff) -> None:
    turn.end()
    await officers.unlink(turn.contact)
    turn.say(
        turn.gettext(
            "Unlinked: this account no longer acts for {name}. Messages from it are a "
            "resident's again.",
            name=staff.full_name,
        )
    )
