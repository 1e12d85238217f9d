"""The pages screen (/admin/pages): the pages in scope with their followers, channels and
whether they are shown; a page's detail with the health of each channel account carrying it
(status, receive mode, the last error — quota and credential problems —, the webhook address),
its follow QR codes and poster; and, for admins, adding a Telegram bot, Zalo Bot or Zalo OA
account (its credentials sealed at once and never shown again: password inputs, never echoed
back) or attaching an existing one. Every call goes through `services.pagesadmin`'s scoped
functions."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from communepol import keys
from communepol.db.models import ChannelKind, ReceiveMode
from communepol.errors import CommunepolError, NotFound, PermissionDenied, ValidationError
from communepol.i18n import N_, _
from communepol.services import followlinks, pagesadmin
from communepol.services.channels import CREDENTIALS
from communepol.web.admin.auth import redirect
from communepol.web.admin.shell import current_of, error_text, is_id, render

SLUG = r"{slug:[a-z0-9][a-z0-9-]{1,98}[a-z0-9]}"
KIND_LABELS = {
    ChannelKind.TELEGRAM: N_("Telegram bot"),
    ChannelKind.ZALO_BOT: N_("Zalo Bot"),
    ChannelKind.ZALO_OA: N_("Zalo OA"),
    ChannelKind.WEBCHAT: N_("Web chat"),
}
NEW_KINDS = (ChannelKind.TELEGRAM, ChannelKind.ZALO_BOT, ChannelKind.ZALO_OA)
CREDENTIAL_LABELS = {
    "token": N_("Bot token"),
    "app_id": N_("App ID"),
    "app_secret": N_("App secret key"),
    "oa_secret": N_("OA secret key"),
    "access_token": N_("Access token"),
    "refresh_token": N_("Refresh token"),
}
DONE = {
    "added": N_(
        "The channel account is added; its credentials are sealed and will not be shown again."
    ),
    "attached": N_("The channel account now carries this page."),
    "already": N_("The channel account already carried this page."),
}


def _text(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def pages_list(request: web.Request) -> web.StreamResponse:
    rows = await pagesadmin.pages_in_scope(current_of(request).staff)
    return await render(request, "admin/pagesweb.html", {"rows": rows, "kind_labels": KIND_LABELS})


async def _detail(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    form: MultiDictProxy[Any] | None = None,
) -> web.StreamResponse:
    staff = current_of(request).staff
    slug = request.match_info["slug"]
    details, health = await pagesadmin.page_in_scope(staff, slug)
    material = None
    if details.page.active:
        material = await followlinks.follow_links(
            slug, request.config_dict[keys.SETTINGS].public_base_url
        )
    kept = {}
    if form is not None:
        # Only what is not secret goes back into the form.
        kept = {name: _text(form, name) for name in ("kind", "name", "handle", "receive_mode")}
    return await render(
        request,
        "admin/pagesweb_detail.html",
        {
            "details": details,
            "health": health,
            "material": material,
            "base_url": request.config_dict[keys.SETTINGS].public_base_url,
            "kind_labels": KIND_LABELS,
            "new_kinds": NEW_KINDS,
            "credential_fields": [
                (kind, [(f"{kind.value}.{n}", CREDENTIAL_LABELS[n]) for n in CREDENTIALS[kind]])
                for kind in NEW_KINDS
            ],
            "admin": pagesadmin.may_manage_channels(staff),
            "attachable": await pagesadmin.attachable_accounts(staff, details.page),
            "error": error,
            "done": DONE.get(request.query.get("done", "")),
            "form": kept,
        },
        status=status,
    )


async def page_detail(request: web.Request) -> web.StreamResponse:
    return await _detail(request)


def _kind(form: MultiDictProxy[Any]) -> ChannelKind:
    try:
        kind = ChannelKind(_text(form, "kind"))
    except ValueError:
        kind = ChannelKind.WEBCHAT
    if kind not in NEW_KINDS:
        raise ValidationError(_("Choose Telegram, Zalo Bot or Zalo OA."), field="kind")
    return kind


def _receive_mode(form: MultiDictProxy[Any]) -> ReceiveMode:
    try:
        return ReceiveMode(_text(form, "receive_mode") or ReceiveMode.WEBHOOK.value)
    except ValueError:
        raise ValidationError(_("Choose how the account receives."), field="receive_mode") from None


async def add_account(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    slug = request.match_info["slug"]
    form = await request.post()
    try:
        kind = _kind(form)
        credentials = {
            name: _text(form, f"{kind.value}.{name}").strip() for name in CREDENTIALS[kind]
        }
        await pagesadmin.add_account_for_page(
            request.config_dict[keys.KEYRING],
            staff,
            slug,
            kind=kind,
            name=_text(form, "name"),
            public_handle=_text(form, "handle").strip() or None,
            credentials=credentials,
            receive_mode=_receive_mode(form),
        )
    except CommunepolError as err:
        if isinstance(err, (NotFound, PermissionDenied)):
            raise
        return await _detail(
            request, status=err.http_status, error=error_text(request, err), form=form
        )
    return redirect(f"/admin/pages/{slug}?done=added")


async def attach_account(request: web.Request) -> web.StreamResponse:
    staff = current_of(request).staff
    slug = request.match_info["slug"]
    form = await request.post()
    value = _text(form, "account").strip()
    if not is_id(value):
        raise NotFound("not found")
    try:
        attached = await pagesadmin.attach_in_scope(staff, slug, int(value))
    except CommunepolError as err:
        if isinstance(err, (NotFound, PermissionDenied)):
            raise
        return await _detail(request, status=err.http_status, error=error_text(request, err))
    return redirect(f"/admin/pages/{slug}?done={'attached' if attached else 'already'}")


def setup_pagesweb_routes(admin: web.Application) -> None:
    admin.router.add_get("/pages", pages_list, name="admin-pages")
    admin.router.add_get(f"/pages/{SLUG}", page_detail, name="admin-page")
    admin.router.add_post(f"/pages/{SLUG}/accounts", add_account, name="admin-page-accounts")
    admin.router.add_post(f"/pages/{SLUG}/attach", attach_account, name="admin-page-attach")
