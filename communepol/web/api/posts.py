"""Posts through the API: the list (``GET /api/v1/posts``, by page and status; paged), one post
with its texts, schedule, approval and delivery figures (``GET /api/v1/posts/{id}``), a new
draft (``POST /api/v1/posts``), an edit at the version read (``PATCH /api/v1/posts/{id}``; a
stale version is 409), and ``…/submit``, ``…/approve``, ``…/reject`` (``{"reason"}``) and
``…/stop`` (``{"publication_id"}``); and ``GET /api/v1/approvals``, the posts and alerts
waiting for the token owner.

Each handler parses, calls the service function the admin web calls (`services.postboard`,
`services.posts`, `services.officers`) and renders; scope, roles, the version check and audit
are theirs. Attachments are added in the admin web only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from bots.officer.post import PRESETS
from communepol import keys
from communepol.db.models import Alert, Post, PostStatus, ScheduleKind
from communepol.services import officers, postboard, posts
from communepol.services.pages import pick_translation
from communepol.services.posts import PostInput, Translation
from communepol.settings import Settings
from communepol.web.api import openapi
from communepol.web.api.alerts import alert_json, with_people
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, parse_time, path_id, read_json, read_query

SOURCE = "api"


def _settings(request: web.Request) -> Settings:
    return request.config_dict[keys.SETTINGS]


def _schedule_json(kind: ScheduleKind, next_run_at: Any, cron: str | None) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "at": iso(next_run_at) if kind is ScheduleKind.ONCE else None,
        "cron": cron,
    }


def row_json(row: postboard.PostRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "page": {"id": row.page.id, "title": row.page.title},
        "category": row.category,
        "status": row.status.value,
        "title": row.title,
        "schedule": _schedule_json(row.schedule, row.next_run_at, row.cron),
        "next_run_at": iso(row.next_run_at),
        "published_at": iso(row.published_at),
    }


def summary_json(post: Post) -> dict[str, Any]:
    """A post with its page and translations loaded, as a list shows it."""
    page = post.page
    translation = pick_translation(post.translations, page.default_locale, page.default_locale)
    return {
        "id": post.id,
        "page": {"id": page.id, "title": page.title},
        "category": post.category.value,
        "status": post.status.value,
        "title": translation.title if translation else "",
        "schedule": _schedule_json(post.schedule_kind, post.next_run_at, post.cron_expression),
        "next_run_at": iso(post.next_run_at),
        "published_at": iso(post.published_at),
    }


def stats_json(stats: posts.PublicationStats) -> dict[str, Any]:
    return {
        "id": stats.publication_id,
        "status": stats.status.value,
        "occurrence_at": iso(stats.occurrence_at),
        "recipients": stats.recipients,
        "deliveries": dict(stats.by_status),
        "read": stats.read,
    }


def details_json(details: postboard.PostDetails) -> dict[str, Any]:
    post = details.post
    return summary_json(post) | {
        "title": details.title,
        "version": post.version,
        "translations": [
            {"locale": t.locale, "title": t.title, "body": t.body}
            for t in sorted(post.translations, key=lambda t: (t.locale != "vi", t.locale))
        ],
        "expires_at": iso(post.expires_at),
        "must_reach_every_household": post.must_reach_every_household,
        "author": post.author.full_name if post.author else None,
        "approval": {
            "approved_by": post.approved_by.full_name if post.approved_by else None,
            "approved_at": iso(post.approved_at),
        },
        "alert_id": post.alert_id,  # type: ignore[attr-defined]
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "content_type": a.content_type,
                "size_bytes": a.size_bytes,
            }
            for a in sorted(post.attachments, key=lambda a: (a.position, a.id))
        ],
        "editable": details.editable,
        "cancellable": details.cancellable,
        "publications": [stats_json(stats) for stats in details.stats],
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
    }


async def _details(request: web.Request, post_id: int) -> dict[str, Any]:
    return details_json(await postboard.post_details(staff_of(request), post_id))


def _translations(items: list[dict[str, str]]) -> list[Translation]:
    return [Translation(item["locale"], item["title"], item["body"]) for item in items]


def _with_fields(data: PostInput, body: dict[str, Any]) -> PostInput:
    """``data`` with what the body says instead (a field left out keeps its value)."""
    changes: dict[str, Any] = {}
    if "category" in body:
        changes["category"] = body["category"]
    if "translations" in body:
        changes["translations"] = _translations(body["translations"])
    if "schedule" in body:
        schedule = body["schedule"]
        preset = schedule.get("preset")
        changes["schedule"] = ScheduleKind(schedule["kind"])
        changes["at"] = parse_time(schedule.get("at"), "at")
        changes["cron"] = PRESETS[preset][0] if preset else schedule.get("cron")
    if "expires_at" in body:
        changes["expires_at"] = parse_time(body["expires_at"], "expires_at")
    if "must_reach_every_household" in body:
        changes["must_reach_every_household"] = body["must_reach_every_household"]
    return replace(data, **changes)


@authenticated
async def list_posts(request: web.Request) -> web.StreamResponse:
    query = read_query(request, openapi.query_parameters("/posts", "get"))
    status = query["status"]
    page = await postboard.posts_page(
        staff_of(request),
        page_id=query["page"],
        status=PostStatus(status) if status else None,
        limit=query["limit"],
        offset=query["offset"],
    )
    return json_response(
        {"items": [row_json(row) for row in page.items], "next_offset": page.next_offset}
    )


@authenticated
async def create_post(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/posts", "post"))
    data = _with_fields(PostInput(category=body["category"], translations=[]), body)
    post = await postboard.save_post(
        staff_of(request), data, _settings(request), page_id=body["page_id"], source=SOURCE
    )
    return json_response(await _details(request, post.id), status=201)


@authenticated
async def get_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    return json_response(await _details(request, post_id))


@authenticated
async def edit_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/posts/{id}", "patch"))
    staff = staff_of(request)
    current = await posts.get_post(staff, post_id)
    await postboard.save_post(
        staff,
        _with_fields(posts.input_of(current), body),
        _settings(request),
        post_id=post_id,
        version=body["version"],
        source=SOURCE,
    )
    return json_response(await _details(request, post_id))


@authenticated
async def submit_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    await read_json(request, openapi.request_body("/posts/{id}/submit", "post"))
    await posts.submit_post(staff_of(request), post_id, _settings(request), source=SOURCE)
    return json_response(await _details(request, post_id))


@authenticated
async def approve_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    await read_json(request, openapi.request_body("/posts/{id}/approve", "post"))
    await posts.approve_post(staff_of(request), post_id, _settings(request), source=SOURCE)
    return json_response(await _details(request, post_id))


@authenticated
async def reject_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/posts/{id}/reject", "post"))
    await posts.reject_post(staff_of(request), post_id, body["reason"], source=SOURCE)
    return json_response(await _details(request, post_id))


@authenticated
async def stop_post(request: web.Request) -> web.StreamResponse:
    post_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/posts/{id}/stop", "post"))
    stopped = await posts.stop_publication(
        staff_of(request), body["publication_id"], post_id=post_id, source=SOURCE
    )
    return json_response({"stopped": stopped, "post": await _details(request, post_id)})


@authenticated
async def list_approvals(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    waiting = await officers.approvals(staff_of(request))
    alerts: list[Alert] = await with_people(waiting.alerts)
    return json_response(
        {
            "approver": waiting.approver,
            "posts": [summary_json(post) for post in waiting.posts],
            "alerts": [alert_json(alert, _settings(request)) for alert in alerts],
        }
    )


ROUTES = [
    ("GET", "/posts", list_posts),
    ("POST", "/posts", create_post),
    ("GET", "/posts/{id}", get_post),
    ("PATCH", "/posts/{id}", edit_post),
    ("POST", "/posts/{id}/submit", submit_post),
    ("POST", "/posts/{id}/approve", approve_post),
    ("POST", "/posts/{id}/reject", reject_post),
    ("POST", "/posts/{id}/stop", stop_post),
    ("GET", "/approvals", list_approvals),
]
