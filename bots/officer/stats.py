"""A post's figures from the bot: ``/stats`` (``/thongke``) for the officer's latest post,
``/stats 12`` for post #12 (in their scope): how many deliveries are queued, sent, failed,
unreachable, blocked by a platform quota, and read where the platform reports reads."""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import for_staff, number, when
from communepol.db.models import Post, Staff
from communepol.i18n import POST_STATUS_LABELS
from communepol.services import officers, posts
from communepol.services.pages import pick_translation

router = Router()


def _title(post: Post) -> str:
    translation = pick_translation(post.translations, "vi", "en")
    return translation.title if translation else ""


@router.command("stats", "thongke")
@for_staff
async def stats(turn: Turn, staff: Staff) -> None:
    turn.end()
    post_id = number(turn.event.args)
    post = await posts.get_post(staff, post_id) if post_id else await officers.latest_post(staff)
    if post is None:
        turn.say(turn.gettext("You have not written a post yet."))
        return
    figures = await posts.publication_stats(staff, post.id)
    heading = turn.gettext("Post #{id}: {title}", id=post.id, title=_title(post))
    if not figures:
        turn.say(
            heading
            + "\n"
            + turn.gettext(
                "Not published yet ({status}).",
                status=turn.gettext(POST_STATUS_LABELS[post.status.value]),
            )
        )
        return
    latest = figures[0]
    text = [
        heading,
        turn.gettext(
            "Published {when} to {recipients} recipients:",
            when=when(turn, latest.occurrence_at),
            recipients=latest.recipients,
        ),
        turn.gettext(
            "queued {queued} · sent {sent} · failed {failed} · unreachable {unreachable} · "
            "blocked by a platform quota {quota} · read {read}",
            queued=latest.queued,
            sent=latest.by_status.get("sent", 0),
            failed=latest.by_status.get("dead", 0),
            unreachable=latest.by_status.get("unreachable", 0),
            quota=latest.by_status.get("quota_blocked", 0),
            read=latest.read,
        ),
    ]
    if len(figures) > 1:
        text.append(
            turn.gettext(
                "Published {count} times; these are the latest figures.", count=len(figures)
            )
        )
    turn.say("\n".join(text))
