"""Following a page from the bot, on every platform: the consent screen, stopping.

A follow starts from a deep link or QR code (``/start p12``), the web page's follow button
(the web chat sends the same ``/start p12``), the account's only page (a Zalo OA is one page:
``/start`` or the OA's follow event), or the commune's name typed on a bot that carries many
pages ("follow", then "ea kar"). Each ends at the consent screen of one page, in the
resident's language (someone who has not chosen one is asked first, and the screen follows
their choice).

The follow waits in ``pending_consent`` until Agree is pressed (or its number or label typed):
anything else — silence included — leaves it pending, and nothing is sent to a pending follow.
Button actions carry ids only (``follow:12``, ``consent:12:yes``, ``unfollow:12``): Telegram
allows 64 bytes.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.resident.common import (
    ask_language,
    back_buttons,
    channel_name,
    greet,
    menu_buttons,
    not_understood,
    typed,
)
from communepol.db.models import ChannelKind, Page
from communepol.errors import NotFound, ValidationError
from communepol.ports import Button, InboundKind
from communepol.services import follows
from communepol.services.followlinks import page_id_from_payload
from communepol.text import as_id, fold

router = Router()

FLOW = "follow"
ASK_COMMUNE = "commune"
MAX_CHOICES = 5  # communes offered when a typed name matches several

# Stored data while the language question interrupts a follow.
_CONSENT_PAGE = "consent_page"  # the page whose consent screen comes after the language
_THEN = "after_language"  # or: what to ask next ("follow": the commune's name)

_CANCEL_WORDS = frozenset(fold(word) for word in ("cancel", "hủy", "huỷ", "thôi", "thoát"))
# "dừng" folds to "dung", as do "đúng" (right!) and the name "Dũng": a message only stops
# every follow when it is spelt as one of these.
_STOP_SPELLINGS = frozenset(("stop", "dừng", "dung", "dừng lại", "dung lai"))


def _page_ref(action: str | None, position: int = 1) -> int | None:
    """The page id in a button action (``follow:12``, ``consent:12:yes``)."""
    parts = (action or "").split(":")
    ref = parts[position] if len(parts) > position else ""
    return as_id(ref)


async def _page(turn: Turn, page_id: int | None) -> Page | None:
    """The page, if this account carries it; otherwise say so."""
    if page_id is not None:
        try:
            return await follows.page_for_contact(turn.contact, page_id)
        except NotFound:
            pass
    turn.say(turn.gettext("This page is not available here."), buttons=menu_buttons(turn))
    return None


def consent_screen(turn: Turn, page: Page) -> None:
    """The notice and the two explicit answers (`follows.CONSENT_TEXT_VERSION` is this text's
    version: change it with the text)."""
    turn.say(
        turn.gettext(
            "To send you the posts and alerts of {page}, we keep:\n"
            "• your {channel} account id and display name, sealed (encrypted);\n"
            "• your language;\n"
            "• which pages you follow and when you agreed.\n"
            "We use them only to send you this page's posts and alerts.\n"
            "You can stop at any time: type “stop”. Type “my data” to see what we keep and "
            "“delete me” to erase it.\n"
            "Do you agree to receive the posts and alerts of {page} here?",
            page=page.title,
            channel=channel_name(turn, turn.account.kind.value),
        ),
        buttons=[
            [
                Button(turn.gettext("Agree"), f"consent:{page.id}:yes"),
                Button(turn.gettext("Decline"), f"consent:{page.id}:no"),
            ]
        ],
    )


async def offer_follow(turn: Turn, page: Page, *, source: str) -> None:
    """Start following ``page`` (pending) and show its consent screen — after the language
    question if the resident has not chosen a language yet."""
    if await follows.following(turn.contact.id, page.id):
        turn.say(
            turn.gettext("You already follow {page}.", page=page.title), buttons=menu_buttons(turn)
        )
        return
    await follows.start_follow(turn.contact, page, source=source)
    if not turn.has_chosen_language:
        turn.data[_CONSENT_PAGE] = page.id
        await ask_language(turn)
        return
    consent_screen(turn, page)


async def after_language(turn: Turn) -> bool:
    """Continue what the language question interrupted; False when it interrupted nothing."""
    page_id = turn.data.pop(_CONSENT_PAGE, None)
    then = turn.data.pop(_THEN, None)
    if isinstance(page_id, int):
        page = await _page(turn, page_id)
        if page is not None:
            await offer_follow(turn, page, source="bot")  # already pending: stays as it was
        return True
    if then == "follow":
        await _ask_for_commune(turn)
        return True
    return False


@router.command("start", "batdau")
async def start(turn: Turn) -> None:
    payload = turn.event.args.strip()
    if payload:
        turn.data["start"] = payload[:64]  # kept for the conversations that read it
        page_id = page_id_from_payload(payload)
        if page_id is None:
            await greet(turn)  # an old or foreign payload: a plain start
            return
        page = await _page(turn, page_id)
        if page is not None:
            web = turn.account.kind is ChannelKind.WEBCHAT
            await offer_follow(turn, page, source="web" if web else "link")
        return
    pages = await follows.pages_of_account(turn.account.id)
    if len(pages) == 1:
        await offer_follow(turn, pages[0], source="bot")
        return
    await greet(turn)


@router.on(InboundKind.FOLLOW)
async def platform_follow(turn: Turn) -> None:
    """A Zalo OA follow (or a Telegram bot unblocked): the account's only page, if it has one."""
    pages = await follows.pages_of_account(turn.account.id)
    if len(pages) == 1:
        await offer_follow(turn, pages[0], source="platform")
        return
    await greet(turn)


@router.on(InboundKind.UNFOLLOW)
async def platform_unfollow(turn: Turn) -> None:
    """They unfollowed the OA (or blocked the bot): every follow on this account stops. The
    engine has already marked them unreachable; nothing can be said to them now."""
    turn.end()
    await follows.unfollow(turn.contact)


async def _ask_for_commune(turn: Turn) -> None:
    turn.go(FLOW, ASK_COMMUNE)
    turn.say(
        turn.gettext("Type the name of your commune or ward."),
        buttons=[[Button(turn.gettext("Cancel"), "cancel")]],
    )


async def _follow_named(turn: Turn, name: str) -> None:
    """Follow the page of the commune ``name`` (as typed): one match goes to its consent
    screen, several are offered, none asks again."""
    try:
        pages = await follows.pages_named(turn.account.id, name, limit=MAX_CHOICES)
    except ValidationError:  # nothing searchable, or far too long to be a name
        pages = []
    cancel = [Button(turn.gettext("Cancel"), "cancel")]
    if len(pages) == 1:
        turn.end()
        await offer_follow(turn, pages[0], source="bot")
        return
    turn.go(FLOW, ASK_COMMUNE)
    if not pages:
        turn.say(
            turn.gettext(
                "I found no commune page called “{name}”. Check the name and type it again, "
                "or type “cancel”.",
                name=name[:60],
            ),
            buttons=[cancel],
        )
        return
    turn.say(
        turn.gettext("Which one is your commune?"),
        buttons=[[Button(page.title, f"follow:{page.id}")] for page in pages] + [cancel],
    )


@router.command("follow", "theodoi")
@router.keyword("follow", "theo dõi", "follow a page", "theo dõi trang")
@router.action("follow")
async def follow(turn: Turn) -> None:
    if turn.event.kind is InboundKind.BUTTON and ":" in (turn.event.action or ""):
        turn.end()  # one of the communes offered
        page = await _page(turn, _page_ref(turn.event.action))
        if page is not None:
            await offer_follow(turn, page, source="bot")
        return
    pages = await follows.pages_of_account(turn.account.id)
    if not pages:
        turn.say(turn.gettext("There is no page to follow here yet."), buttons=menu_buttons(turn))
        return
    if len(pages) == 1:
        await offer_follow(turn, pages[0], source="bot")
        return
    if not turn.has_chosen_language:
        turn.data[_THEN] = "follow"
        await ask_language(turn)
        return
    if turn.event.kind is InboundKind.COMMAND and turn.event.args:
        await _follow_named(turn, turn.event.args)  # "/follow ea kar"
        return
    await _ask_for_commune(turn)


@router.step(FLOW, ASK_COMMUNE)
async def commune_typed(turn: Turn) -> None:
    text = turn.event.text or ""
    if fold(text) in _CANCEL_WORDS:
        await cancel(turn)
        return
    if not text.strip():  # a location, a photo: not a name
        await _ask_for_commune(turn)
        return
    await _follow_named(turn, text)


@router.action("cancel")
async def cancel(turn: Turn) -> None:
    turn.end()
    turn.say(turn.gettext("Cancelled."), buttons=menu_buttons(turn))


@router.action("consent")
async def consent_answered(turn: Turn) -> None:
    """Agree (``consent:12:yes``) or Decline (``consent:12:no``) on a consent screen."""
    answer = (turn.event.action or "").rpartition(":")[2]
    if answer not in ("yes", "no"):
        await not_understood(turn)
        return
    page = await _page(turn, _page_ref(turn.event.action))
    if page is None:
        return
    turn.data.pop(_CONSENT_PAGE, None)
    if answer == "yes" and await follows.following(turn.contact.id, page.id):
        turn.say(
            turn.gettext("You already follow {page}.", page=page.title), buttons=menu_buttons(turn)
        )
        return
    await follows.answer_consent(turn.contact, page, agree=answer == "yes", locale=turn.locale)
    if answer == "yes":
        turn.say(
            turn.gettext(
                "Thank you: you now follow {page}. Its posts and alerts will come here.\n"
                "Type “stop” at any time to stop them.",
                page=page.title,
            ),
            buttons=menu_buttons(turn),
        )
    else:
        turn.say(
            turn.gettext(
                "Understood: nothing from {page} will be sent to you, and we did not record "
                "you as a follower.",
                page=page.title,
            ),
            buttons=menu_buttons(turn),
        )


@router.command("stop", "dung")
@router.keyword("stop", "dừng", "dừng lại")
async def stop(turn: Turn) -> None:
    """Stop every page."""
    if turn.event.kind is InboundKind.TEXT and typed(turn) not in _STOP_SPELLINGS:
        await not_understood(turn)  # "đúng", "Dũng": not a request to stop
        return
    turn.end()
    stopped = await follows.unfollow(turn.contact)
    if not stopped:
        turn.say(turn.gettext("You are not following any page."), buttons=menu_buttons(turn))
        return
    titles = "\n".join(f"• {page.title}" for page in stopped)
    turn.say(
        turn.gettext(
            "Stopped. Nothing more will be sent to you from:\n{pages}\n"
            "To follow a page again, choose “Follow a page”.",
            pages=titles,
        ),
        buttons=menu_buttons(turn),
    )


@router.command("mypages", "trangcuatoi", "unfollow", "botheodoi")
@router.keyword("my pages", "trang của tôi", "unfollow", "bỏ theo dõi")
@router.action("mypages")
async def my_pages(turn: Turn) -> None:
    """The pages they follow, each with a button to stop it."""
    turn.end()
    pages = await follows.followed_pages(turn.contact)
    if not pages:
        turn.say(
            turn.gettext("You do not follow any page yet."),
            buttons=[[Button(turn.gettext("Follow a page"), "follow")], *back_buttons(turn)],
        )
        return
    titles = "\n".join(f"• {page.title}" for page in pages)
    turn.say(
        turn.gettext(
            "You follow:\n{pages}\nTo stop one, press its button; to stop them all, type “stop”.",
            pages=titles,
        ),
        buttons=[
            *(
                [Button(turn.gettext("Stop {page}", page=page.title), f"unfollow:{page.id}")]
                for page in pages
            ),
            [Button(turn.gettext("Follow a page"), "follow"), Button(turn.gettext("Menu"), "menu")],
        ],
    )


@router.action("unfollow")
async def unfollow_one(turn: Turn) -> None:
    page_id = _page_ref(turn.event.action)
    if page_id is None:
        await my_pages(turn)
        return
    stopped = await follows.unfollow(turn.contact, [page_id])
    if not stopped:
        turn.say(turn.gettext("You were not following this page."), buttons=menu_buttons(turn))
        return
    turn.say(
        turn.gettext(
            "Stopped: nothing more will be sent to you from {page}.", page=stopped[0].title
        ),
        buttons=menu_buttons(turn),
    )
