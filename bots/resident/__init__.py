"""The resident conversation: greeting, language choice and help, on every platform.

This is the minimal conversation that proves the kit end to end; following pages, tips and
household accounts add their own routers beside it.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from communepol.db.models import Contact
from communepol.i18n import SUPPORTED_LOCALES
from communepol.ports import Button, InboundKind

router = Router()

# Language names are written in their own language, so anyone can find theirs.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}


def _language_buttons() -> list[list[Button]]:
    return [[Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in SUPPORTED_LOCALES]]


def _help_buttons(turn: Turn) -> list[list[Button]]:
    return [[Button(turn.gettext("Language"), "language"), Button(turn.gettext("Help"), "help")]]


async def _ask_language(turn: Turn) -> None:
    # Before a language is chosen the greeting is bilingual: we do not know which one they read.
    turn.say(
        "Xin chào! Đây là kênh của công an xã. Bạn muốn dùng ngôn ngữ nào?\n"
        "Hello! This is the commune police channel. Which language do you prefer?",
        buttons=_language_buttons(),
    )


async def _help(turn: Turn) -> None:
    turn.say(
        turn.gettext(
            "This is the commune police channel. You can write to us here at any time.\n"
            "Type /help to see this message again and /language to change the language."
        ),
        buttons=_help_buttons(turn),
    )


@router.command("start", "batdau")
async def start(turn: Turn) -> None:
    if turn.event.args:
        turn.data["start"] = turn.event.args[:64]  # a deep link's payload, for the page issue
    if not turn.has_chosen_language:
        await _ask_language(turn)
        return
    turn.say(turn.gettext("Hello again!"))
    await _help(turn)


@router.on(InboundKind.FOLLOW)
async def followed(turn: Turn) -> None:
    await start(turn)


@router.command("language", "ngonngu")
@router.keyword("language", "ngôn ngữ")
@router.action("language")
async def choose_language(turn: Turn) -> None:
    await _ask_language(turn)


@router.action("lang")
async def language_chosen(turn: Turn) -> None:
    code = (turn.event.action or "").partition(":")[2]
    if code not in SUPPORTED_LOCALES:
        await _ask_language(turn)
        return
    await Contact.filter(id=turn.contact.id).update(locale=code)
    turn.contact.locale = code
    turn.locale = code
    turn.say(turn.gettext("Language set: English."))
    await _help(turn)


@router.command("help", "giup", "trogiup")
@router.keyword("help", "giúp", "trợ giúp", "menu")
@router.action("help")
async def help_reply(turn: Turn) -> None:
    await _help(turn)


@router.otherwise
async def not_understood(turn: Turn) -> None:
    if not turn.has_chosen_language:
        await _ask_language(turn)
        return
    turn.say(turn.gettext("Sorry, I did not understand that."))
    await _help(turn)
