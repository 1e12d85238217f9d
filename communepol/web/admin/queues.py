"""The queues screen (/admin/queues, supervisors and admins): the inbox's parked events and
the outbox's dead letters and quota-blocked deliveries of the channel accounts in scope —
the same lists and retries as `communepol inbox parked|retry` and `communepol outbox
dead|retry` — with a retry button per row. Rows show ids, kinds, statuses, attempts and
errors only: never a message's content or whom it concerns."""

from __future__ import annotations

from aiohttp import web

from communepol.db.models import DeliveryStatus
from communepol.errors import NotFound
from communepol.i18n import N_
from communepol.services import inbox, outbox
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, render

MAX_ID_DIGITS = 19
LIMIT = 200
DONE = {
    "event": N_("The event is sent through again."),
    "delivery": N_("The message is back in the queue."),
    "gone": N_("Nothing to retry: it was already handled."),
}


def _id(request: web.Request) -> int:
    value = request.match_info["row"]
    # 64-bit ids; the route's \d+ also matches non-ASCII digits.
    if not value.isascii() or len(value) > MAX_ID_DIGITS or not 0 < int(value) < 2**63:
        raise NotFound("not found")
    return int(value)


async def queues_page(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    events = await inbox.parked_in_scope(staff, limit=LIMIT)
    stuck = await outbox.stuck_in_scope(staff, limit=LIMIT)
    return await render(
        request,
        "admin/queues.html",
        {
            "events": events,
            "stuck": stuck,
            "dead": DeliveryStatus.DEAD,
            "done": DONE.get(request.query.get("done", "")),
        },
    )


async def retry_event(request: web.Request) -> web.StreamResponse:
    retried = await inbox.retry_parked_in_scope(current_of(request).staff, _id(request))
    return redirect(f"/admin/queues?done={'event' if retried else 'gone'}")


async def retry_delivery(request: web.Request) -> web.StreamResponse:
    retried = await outbox.retry_dead_in_scope(current_of(request).staff, _id(request))
    return redirect(f"/admin/queues?done={'delivery' if retried else 'gone'}")


def setup_queues_routes(admin: web.Application) -> None:
    admin.router.add_get("/queues", queues_page, name="admin-queues")
    admin.router.add_post(
        r"/queues/inbox/{row:\d+}/retry", retry_event, name="admin-queues-inbox-retry"
    )
    admin.router.add_post(
        r"/queues/outbox/{row:\d+}/retry", retry_delivery, name="admin-queues-outbox-retry"
    )
