"""The resident menu: reading posts by category, the procedures, the language, the help.

Posts are read from the pages the resident follows, or from every page the account carries
when they follow none; each is a short text (title, date, the beginning) with its link on the
public page.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.resident.common import (
    ask_language,
    back_buttons,
    menu_buttons,
    page_url,
    show_help,
    when,
)
from bots.resident.follow import after_language
from bots.resident.tip import offer_tip
from communepol.db.models import Contact, PostCategory
from communepol.i18n import POST_CATEGORY_LABELS, SUPPORTED_LOCALES
from communepol.ports import Button
from communepol.services import follows, pages
from communepol.services.pages import PagePostView

router = Router()

LATEST = 5  # posts shown per category
PROCEDURES = 10  # procedures listed
EXCERPT = 300  # characters of a post's text shown in the bot

_CATEGORIES = frozenset(category.value for category in PostCategory)


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """The beginning of ``text`` on one line, cut at a word, with "…" when cut."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0] or flat[:limit]
    return cut.rstrip(" ,.;:") + "…"


async def _reading_pages(turn: Turn) -> list[int]:
    """The pages they follow; if none, every page of this account."""
    followed = await follows.followed_pages(turn.contact)
    chosen = followed or await follows.pages_of_account(turn.account.id)
    return [page.id for page in chosen]


def _post_text(turn: Turn, post: PagePostView) -> str:
    lines = [post.title]
    if post.published_at is not None:
        lines.append(f"{when(turn, post.published_at)} · {post.page_title}")
    lines.append(excerpt(post.body))
    url = page_url(turn, post.page_slug, post.id)
    if url:
        lines.append(url)
    return "\n".join(lines)


@router.command("menu")
@router.keyword("menu")
@router.action("menu")
async def menu(turn: Turn) -> None:
    turn.end()
    turn.say(turn.gettext("What would you like to do?"), buttons=menu_buttons(turn))


@router.command("posts", "bantin", "tintuc")
@router.keyword("posts", "bài đăng", "bản tin", "tin tức")
@router.action("posts")
async def posts(turn: Turn) -> None:
    """``posts``: the categories that have posts; ``posts:<category>``: its latest posts."""
    turn.end()
    category = (turn.event.action or "").partition(":")[2]
    page_ids = await _reading_pages(turn)
    if category in _CATEGORIES:
        found = await pages.recent_posts(
            page_ids, locale=turn.locale, category=category, limit=LATEST
        )
        if found:
            label = turn.gettext(POST_CATEGORY_LABELS[category])
            turn.say(
                "\n\n".join([label, *(_post_text(turn, post) for post in found)]),
                buttons=[
                    [
                        Button(turn.gettext("Other posts"), "posts"),
                        Button(turn.gettext("Menu"), "menu"),
                    ]
                ],
            )
            return
    categories = await pages.post_categories(page_ids)
    if not categories:
        turn.say(turn.gettext("Nothing has been published yet."), buttons=menu_buttons(turn))
        return
    turn.say(
        turn.gettext("Which posts would you like to read?"),
        buttons=[
            *(
                [Button(turn.gettext(POST_CATEGORY_LABELS[value]), f"posts:{value}")]
                for value in categories
            ),
            *back_buttons(turn),
        ],
    )


@router.command("procedures", "thutuc")
@router.keyword("procedures", "thủ tục", "thủ tục hành chính")
@router.action("procedures")
async def procedures(turn: Turn) -> None:
    turn.end()
    found = await pages.recent_posts(
        await _reading_pages(turn),
        locale=turn.locale,
        category=PostCategory.PROCEDURE.value,
        limit=PROCEDURES,
    )
    if not found:
        turn.say(
            turn.gettext("No administrative procedures have been published yet."),
            buttons=menu_buttons(turn),
        )
        return
    lines = [turn.gettext("Administrative procedures:")]
    for post in found:
        url = page_url(turn, post.page_slug, post.id)
        lines.append(f"• {post.title}" + (f"\n  {url}" if url else ""))
    turn.say("\n".join(lines), buttons=back_buttons(turn))


@router.command("language", "ngonngu")
@router.keyword("language", "ngôn ngữ")
@router.action("language")
async def choose_language(turn: Turn) -> None:
    await ask_language(turn)


@router.action("lang")
async def language_chosen(turn: Turn) -> None:
    code = (turn.event.action or "").partition(":")[2]
    if code not in SUPPORTED_LOCALES:
        await ask_language(turn)
        return
    await Contact.filter(id=turn.contact.id).update(locale=code)
    turn.contact.locale = code
    turn.locale = code
    turn.say(turn.gettext("Language set: English."))
    if not await after_language(turn):
        await show_help(turn)


@router.command("help", "giup", "trogiup")
@router.keyword("help", "giúp", "trợ giúp")
@router.action("help")
async def help_reply(turn: Turn) -> None:
    turn.end()
    await show_help(turn)


@router.otherwise
async def fallback(turn: Turn) -> None:
    """A message outside any conversation is offered as a tip, a question or a rumour check
    (commands and buttons nobody answers are "not understood")."""
    await offer_tip(turn)
