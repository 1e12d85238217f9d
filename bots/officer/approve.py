"""Approving from the bot: ``/approve`` (``/duyet``) lists the posts waiting for a supervisor
and the alerts waiting for a second person, in the supervisor's scope, each with its buttons.

Approve schedules a post (`posts.approve_post`) or sends an alert out (`Alerts.approve`);
Reject asks for the reason and sends the post back to its author as a draft
(`posts.reject_post`), or closes the alert unsent (`Alerts.reject`); the author is told why.
Buttons: ``ov:p:<id>:y`` / ``ov:p:<id>:n`` for a post, ``ov:a:<id>:y`` / ``ov:a:<id>:n`` for
an alert, ``ov:cancel`` instead of a reason.
"""

from __future__ import annotations

from bots.conversation import Router, Turn
from bots.officer.common import FLOW_PREFIX, for_staff, reference, services, soon, when
from bots.resident.menu import excerpt
from communepol.db.models import Alert, Post, Staff
from communepol.i18n import POST_CATEGORY_LABELS
from communepol.ports import Button
from communepol.services import officers, posts, scope
from communepol.services.alerts import Alerts, get_alert
from communepol.services.pages import pick_translation

router = Router()

REJECT_FLOW = f"{FLOW_PREFIX}reject"
REASON = "reason"
EXCERPT = 200


def _title(post: Post) -> str:
    translation = pick_translation(post.translations, post.page.default_locale, "vi")
    return translation.title if translation else ""


def _post_item(turn: Turn, post: Post) -> str:
    translation = pick_translation(post.translations, post.page.default_locale, "vi")
    category = turn.gettext(POST_CATEGORY_LABELS[post.category.value])
    return "\n".join(
        (
            turn.gettext(
                "Post #{id} · {category} · {page}",
                id=post.id,
                category=category,
                page=post.page.title,
            ),
            turn.gettext(
                "“{title}”, by {author}",
                title=_title(post),
                author=post.author.full_name if post.author else "—",
            ),
            excerpt(translation.body if translation else "", EXCERPT),
        )
    )


async def _alert_item(turn: Turn, alert: Alert) -> str:
    category = turn.gettext(POST_CATEGORY_LABELS.get(alert.category, alert.category))
    return "\n".join(
        (
            turn.gettext(
                "Alert #{id} · {category} · {count} pages",
                id=alert.id,
                category=category,
                count=await officers.page_count(alert),
            ),
            f"“{alert.headline}”",
            excerpt(alert.description, EXCERPT),
        )
    )


@router.command("approve", "duyet")
@for_staff
async def waiting(turn: Turn, staff: Staff) -> None:
    turn.end()
    if staff.role not in scope.APPROVER_ROLES:
        turn.say(turn.gettext("Only supervisors and administrators approve posts and alerts."))
        return
    waiting_posts = await officers.posts_awaiting_approval(staff)
    waiting_alerts = await officers.alerts_awaiting_approval(staff)
    if not waiting_posts and not waiting_alerts:
        turn.say(turn.gettext("Nothing is waiting for your approval."))
        return
    items = [_post_item(turn, post) for post in waiting_posts]
    items += [await _alert_item(turn, alert) for alert in waiting_alerts]
    buttons = [
        [
            Button(turn.gettext("Approve post #{id}", id=post.id), f"ov:p:{post.id}:y"),
            Button(turn.gettext("Reject post #{id}", id=post.id), f"ov:p:{post.id}:n"),
        ]
        for post in waiting_posts
    ]
    buttons += [
        [
            Button(turn.gettext("Approve alert #{id}", id=alert.id), f"ov:a:{alert.id}:y"),
            Button(turn.gettext("Reject alert #{id}", id=alert.id), f"ov:a:{alert.id}:n"),
        ]
        for alert in waiting_alerts
    ]
    turn.say("\n\n".join([turn.gettext("Waiting for your approval:"), *items]), buttons=buttons)


@router.action("ov")
@for_staff
async def decided(turn: Turn, staff: Staff) -> None:
    parts = (turn.event.action or "").split(":")
    item_id = reference(turn.event.action, 2)
    if parts[1:] == ["cancel"]:
        turn.end()
        turn.say(turn.gettext("Nothing was changed."))
        return
    if len(parts) != 4 or item_id is None:
        return
    kind, answer = parts[1], parts[3]
    if kind == "p" and answer == "y":
        await _approve_post(turn, staff, item_id)
    elif kind == "p" and answer == "n":
        await posts.get_post(staff, item_id)  # NotFound outside the scope, before asking why
        turn.end()
        turn.go(REJECT_FLOW, REASON, post=item_id)
        turn.say(
            turn.gettext(
                "Why is post #{id} sent back? Type the reason for its author.", id=item_id
            ),
            buttons=[[Button(turn.gettext("Cancel"), "ov:cancel")]],
        )
    elif kind == "a" and answer == "n":
        await get_alert(staff, item_id)  # NotFound outside the scope, before asking why
        turn.end()
        turn.go(REJECT_FLOW, REASON, alert=item_id)
        turn.say(
            turn.gettext(
                "Why is alert #{id} not sent? Type the reason for its author.", id=item_id
            ),
            buttons=[[Button(turn.gettext("Cancel"), "ov:cancel")]],
        )
    elif kind == "a" and answer == "y":
        service = Alerts(services(turn).settings, turn.i18n)
        alert = await service.approve(staff, item_id, source="bot")
        turn.say(
            turn.gettext(
                "Alert #{id} approved: it is going out to {count} pages.",
                id=alert.id,
                count=await officers.page_count(alert),
            )
        )
    else:
        turn.say(turn.gettext("This question has passed. Type /approve to see what waits."))


async def _approve_post(turn: Turn, staff: Staff, post_id: int) -> None:
    post = await posts.approve_post(staff, post_id, services(turn).settings, source="bot")
    if soon(post.next_run_at):
        turn.say(turn.gettext("Post #{id} approved: it is being published.", id=post.id))
        return
    turn.say(
        turn.gettext(
            "Post #{id} approved: it is scheduled for {when}.",
            id=post.id,
            when=when(turn, post.next_run_at) if post.next_run_at else "",
        )
    )


@router.step(REJECT_FLOW, REASON)
@for_staff
async def reason_typed(turn: Turn, staff: Staff) -> None:
    reason = (turn.event.text or "").strip()
    post_id, alert_id = turn.data.get("post"), turn.data.get("alert")
    if not reason or not (isinstance(post_id, int) or isinstance(alert_id, int)):
        turn.say(turn.gettext("Type the reason, or press Cancel."))
        return
    turn.end()
    if isinstance(alert_id, int):
        service = Alerts(services(turn).settings, turn.i18n)
        await service.reject(staff, alert_id, reason, source="bot")
        turn.say(turn.gettext("Alert #{id} will not be sent; its author is told why.", id=alert_id))
        return
    if isinstance(post_id, int):
        await posts.reject_post(staff, post_id, reason, source="bot")
        turn.say(turn.gettext("Post #{id} was sent back to its author as a draft.", id=post_id))
