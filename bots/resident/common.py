"""What the parts of the resident conversation share: the language question, the greeting,
the help and its menu buttons, links to the public pages, and how dates and channels read."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from bots.conversation import Turn
from communepol.i18n import N_, SUPPORTED_LOCALES, format_datetime
from communepol.ports import Button
from communepol.services.followlinks import CHANNEL_LABELS
from communepol.text import clean

# Language names are written in their own language, so anyone can find theirs.
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}

WEB_CHAT = N_("web chat")


def language_buttons() -> list[list[Button]]:
    return [[Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in SUPPORTED_LOCALES]]


def menu_buttons(turn: Turn) -> list[list[Button]]:
    """The resident menu (numbered in this order where a platform has no buttons)."""
    return [
        [Button(turn.gettext("Posts"), "posts"), Button(turn.gettext("Procedures"), "procedures")],
        [
            Button(turn.gettext("My pages"), "mypages"),
            Button(turn.gettext("Follow a page"), "follow"),
        ],
        [Button(turn.gettext("Language"), "language"), Button(turn.gettext("Help"), "help")],
        [Button(turn.gettext("Report"), "tip"), Button(turn.gettext("My tips"), "mytips")],
    ]


def back_buttons(turn: Turn) -> list[list[Button]]:
    return [[Button(turn.gettext("Menu"), "menu")]]


async def ask_language(turn: Turn) -> None:
    # Before a language is chosen the greeting is bilingual: we do not know which one they read.
    turn.say(
        "Xin chào! Đây là kênh của công an xã. Bạn muốn dùng ngôn ngữ nào?\n"
        "Hello! This is the commune police channel. Which language do you prefer?",
        buttons=language_buttons(),
    )


async def show_help(turn: Turn) -> None:
    turn.say(
        turn.gettext(
            "This is the commune police channel. You can write to us here at any time.\n"
            "Type /help to see this message again and /language to change the language."
        )
        + "\n"
        + turn.gettext(
            "Type /menu for the menu, /follow to follow your commune's page, /stop to stop "
            "receiving posts, /mydata to see what we keep about you and /deleteme to erase it."
        )
        + "\n"
        + turn.gettext(
            "Type /tip to report something to the police, ask a question or check a rumour "
            "(you can stay anonymous), and /mytips to see your tips."
        ),
        buttons=menu_buttons(turn),
    )


async def greet(turn: Turn) -> None:
    if not turn.has_chosen_language:
        await ask_language(turn)
        return
    turn.say(turn.gettext("Hello again!"))
    await show_help(turn)


async def not_understood(turn: Turn) -> None:
    if not turn.has_chosen_language:
        await ask_language(turn)
        return
    turn.say(turn.gettext("Sorry, I did not understand that."))
    await show_help(turn)


def typed(turn: Turn) -> str:
    """The message as typed, cleaned and in lower case, diacritics kept (for the few words
    whose folded form is also an everyday word)."""
    return clean(turn.event.text or "").lower()


def when(turn: Turn, moment: datetime) -> str:
    """A moment as the resident reads it: their language, Vietnam's time."""
    return format_datetime(moment, turn.locale, turn.i18n.timezone)


def channel_name(turn: Turn, kind: str) -> str:
    for channel, label in CHANNEL_LABELS.items():
        if channel.value == kind:
            return label
    return turn.gettext(WEB_CHAT)


def page_url(turn: Turn, slug: str, post_id: int | None = None) -> str | None:
    """The public address of a page (or one of its posts); None when the service has no
    public address configured (a relative link means nothing in a messenger)."""
    if not turn.base_url:
        return None
    url = f"{turn.base_url}/p/{quote(slug, safe='')}"
    return f"{url}#post-{post_id}" if post_id is not None else url
