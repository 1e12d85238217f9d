"""Shared household accounts through the API: a commune's groups (``GET`` and ``POST
/api/v1/communes/{id}/groups`` — creating one answers its one-time link code, shown once), one
group (``GET /api/v1/groups/{id}``), a new code for a handover (``POST /api/v1/groups/{id}/code``),
adding and taking out a household (``POST /api/v1/groups/{id}/households``, ``DELETE
/api/v1/groups/{id}/households/{household_id}``) and a household's own-account code (``POST
/api/v1/households/{id}/own-code``). Scope, checks and audit are
`services.householdgroups`'; out of scope is 404."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from communepol import keys
from communepol.services import householdgroups
from communepol.services.householdgroups import GroupView, IssuedCode, Member
from communepol.web.api import openapi
from communepol.web.api.auth import authenticated, staff_of
from communepol.web.api.io import iso, json_response, path_id, read_json, read_query

SOURCE = "api"


def member_json(member: Member) -> dict[str, Any]:
    household = member.household
    return {
        "id": household.id,
        "head_name": household.head_name,
        "members_count": household.members_count,
        "address": household.address,
        "hamlet": {"id": household.hamlet_id, "name": member.hamlet_name},  # type: ignore[attr-defined]
        "agreed": member.confirmed,
    }


def group_json(view: GroupView) -> dict[str, Any]:
    return {
        "id": view.group.id,
        "name": view.group.name,
        "commune": {"id": view.commune.id, "name": view.commune.name},
        "representative_linked": view.linked,
        "linked_at": iso(view.group.linked_at),
        "households": [member_json(member) for member in view.members],
    }


def code_json(issued: IssuedCode) -> dict[str, Any]:
    return {"link_code": issued.code, "expires_at": iso(issued.expires_at)}


def _keyring(request: web.Request) -> Any:
    return request.config_dict[keys.KEYRING]


@authenticated
async def list_groups(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    groups = await householdgroups.groups_of(staff_of(request), path_id(request))
    return json_response({"items": [group_json(view) for view in groups]})


@authenticated
async def create_group(request: web.Request) -> web.StreamResponse:
    commune_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/communes/{id}/groups", "post"))
    staff = staff_of(request)
    group, issued = await householdgroups.create_group(
        _keyring(request), staff, commune_id, body["name"], body["household_ids"], source=SOURCE
    )
    view = await householdgroups.group_detail(staff, group.id)
    return json_response({"group": group_json(view), **code_json(issued)}, status=201)


@authenticated
async def get_group(request: web.Request) -> web.StreamResponse:
    read_query(request, [])
    return json_response(
        group_json(await householdgroups.group_detail(staff_of(request), path_id(request)))
    )


@authenticated
async def new_code(request: web.Request) -> web.StreamResponse:
    group_id = path_id(request)
    read_query(request, [])
    await read_json(request, openapi.request_body("/groups/{id}/code", "post"))
    issued = await householdgroups.issue_handover_code(
        _keyring(request), staff_of(request), group_id, source=SOURCE
    )
    return json_response(code_json(issued))


@authenticated
async def add_member(request: web.Request) -> web.StreamResponse:
    group_id = path_id(request)
    read_query(request, [])
    body = await read_json(request, openapi.request_body("/groups/{id}/households", "post"))
    staff = staff_of(request)
    await householdgroups.add_member(staff, group_id, body["household_id"], source=SOURCE)
    return json_response(group_json(await householdgroups.group_detail(staff, group_id)))


@authenticated
async def remove_member(request: web.Request) -> web.StreamResponse:
    group_id = path_id(request)
    household_id = path_id(request, "household_id")
    read_query(request, [])
    staff = staff_of(request)
    await householdgroups.remove_member(staff, group_id, household_id, source=SOURCE)
    return json_response(group_json(await householdgroups.group_detail(staff, group_id)))


@authenticated
async def own_code(request: web.Request) -> web.StreamResponse:
    household_id = path_id(request)
    read_query(request, [])
    await read_json(request, openapi.request_body("/households/{id}/own-code", "post"))
    issued = await householdgroups.issue_own_account_code(
        _keyring(request), staff_of(request), household_id, source=SOURCE
    )
    return json_response(code_json(issued))


ROUTES = [
    ("GET", "/communes/{id}/groups", list_groups),
    ("POST", "/communes/{id}/groups", create_group),
    ("GET", "/groups/{id}", get_group),
    ("POST", "/groups/{id}/code", new_code),
    ("POST", "/groups/{id}/households", add_member),
    ("DELETE", "/groups/{id}/households/{household_id}", remove_member),
    ("POST", "/households/{id}/own-code", own_code),
]
