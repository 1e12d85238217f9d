""" "My data" and "delete me": a resident sees everything held about them, in their language,
and can erase it after one confirmation.

The confirmation of an erasure is the one message planned after the erasure: the contact row
(only its sealed address) stays until that message has been sent, then the ticker purges it
(`follows.erase_contact`, `follows.purge_erased`). So that reply carries no buttons and no
conversation state is kept: nothing about them is written again.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.resident.common import (
    LANGUAGE_NAMES,
    back_buttons,
    channel_name,
    menu_buttons,
    not_understood,
    when,
)
from communepol.db.models import FollowStatus
from communepol.ports import Button
from communepol.services import follows, householdgroups, vault

router = Router()

FLOW = "erase"
CONFIRM = "confirm"


def _render(turn: Turn, data: follows.MyData, tips_sent: int) -> str:
    language = LANGUAGE_NAMES.get(data.locale or "") or turn.gettext("not chosen yet")
    items = [
        turn.gettext("Channel: {channel}", channel=channel_name(turn, data.channel)),
        turn.gettext("Language: {language}", language=language),
        turn.gettext("First contact: {when}", when=when(turn, data.first_seen)),
    ]
    if data.last_message_at is not None:
        items.append(
            turn.gettext("Your last message: {when}", when=when(turn, data.last_message_at))
        )
    items.append(turn.gettext("Your account id and display name, sealed (encrypted)."))
    if data.conversation_in_progress:
        items.append(turn.gettext("An unfinished conversation with this bot (kept 7 days)."))
    lines = [turn.gettext("What we keep about you:"), *(f"• {item}" for item in items), ""]
    if data.follows:
        lines.append(turn.gettext("Pages:"))
        for info in data.follows:
            if info.status is FollowStatus.ACTIVE:
                status = turn.gettext("following since {when}", when=when(turn, info.since))
            elif info.status is FollowStatus.PENDING_CONSENT:
                status = turn.gettext("waiting for your answer to the consent screen")
            else:
                status = turn.gettext("stopped")
            lines.append(f"• {info.page_title}: {status}")
    else:
        lines.append(turn.gettext("Pages: none."))
    if data.consents:
        lines.append(turn.gettext("Your consent answers:"))
        for consent in data.consents:
            answer = (
                turn.gettext("agreed (text {version})", version=consent.text_version)
                if consent.granted
                else turn.gettext(
                    "declined or stopped (text {version})", version=consent.text_version
                )
            )
            lines.append(f"• {when(turn, consent.recorded_at)}: {answer}")
    lines.append(
        turn.gettext(
            "Messages to you: {waiting} waiting, {sent} sent.",
            waiting=data.messages_waiting,
            sent=data.messages_sent,
        )
    )
    if tips_sent:
        lines.append(
            turn.gettext(
                "Tips you sent: {count} (type /mytips). They are police records: deleting your "
                "data removes only their link to you.",
                count=tips_sent,
            )
        )
    lines += ["", turn.gettext("Type “delete me” to erase all of this.")]
    return "\n".join(lines)


@router.command("mydata", "dulieu")
@router.keyword("my data", "dữ liệu của tôi", "dữ liệu")
@router.action("mydata")
async def my_data(turn: Turn) -> None:
    turn.end()
    data = await follows.my_data(turn.contact)
    keyring = turn.services.keyring if turn.services is not None else None
    sent = len(await vault.tip_ids_of(keyring, turn.contact)) if keyring is not None else 0
    text = _render(turn, data, sent)
    for view in await householdgroups.represented(turn.contact):
        # Said before "delete me": erasing this account ends what it does for the households.
        text += "\n" + turn.ngettext(
            "This account speaks for {n} household of the group “{group}” (its name, and "
            "whether it agreed): type /household.",
            "This account speaks for {n} households of the group “{group}” (their names, "
            "and whether each agreed): type /household.",
            len(view.members),
            group=view.group.name,
        )
    turn.say(
        text,
        buttons=[[Button(turn.gettext("Delete my data"), "deleteme")], *back_buttons(turn)],
    )


@router.command("deleteme", "xoadulieu")
@router.keyword("delete me", "delete my data", "xóa dữ liệu", "xóa dữ liệu của tôi")
@router.action("deleteme")
async def ask_to_erase(turn: Turn) -> None:
    turn.go(FLOW, CONFIRM)
    turn.say(
        turn.gettext(
            "This deletes everything we keep about you: the pages you follow, your consent "
            "answers, your language and the messages to you. Nothing more will be sent to you "
            "until you follow a page again.\nDelete everything?"
        )
        + "\n"
        + turn.gettext(
            "The tips you sent stay with the police, but nothing will link them to you any "
            "more: you will no longer hear about them."
        ),
        buttons=[
            [
                Button(turn.gettext("Yes, delete"), "erase:yes"),
                Button(turn.gettext("No, keep"), "erase:no"),
            ]
        ],
    )


@router.action("erase")
async def erase_answered(turn: Turn) -> None:
    answer = (turn.event.action or "").partition(":")[2]
    if answer == "yes":
        if (turn.flow, turn.step) != (FLOW, CONFIRM):
            await ask_to_erase(turn)  # a stale button: ask again rather than erase
            return
        if turn.services is not None:
            # Their tips stay (police records), but nothing links them to this person now.
            await vault.forget_tipster(turn.services.keyring, turn.contact)
        await follows.erase_contact(turn.contact)
        turn.end()
        # No buttons: offered buttons would be stored as conversation state again.
        turn.say(
            turn.gettext(
                "Done: everything we kept about you has been deleted. Only the address needed "
                "to send you this message is kept until it is sent. If you write again, we "
                "start afresh."
            )
        )
        return
    if answer == "no":
        turn.end()
        turn.say(turn.gettext("Nothing was deleted."), buttons=menu_buttons(turn))
        return
    await not_understood(turn)
