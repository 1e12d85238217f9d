"""A tip's stored file behind a signed, expiring link (``/tipfile/<id>/<expires>/<signature>``),
which the platforms fetch to show the file in an officer's chat (`services.tipmedia`).

The link is the only credential: a wrong signature, an expired link and a missing file are the
same 404. Responses are never cached and never sniffed; a photo is shown inline, anything else
is a download.
"""

from __future__ import annotations

from aiohttp import web

from communepol import keys
from communepol.errors import NotFound
from communepol.services import tipmedia


async def tip_file(request: web.Request) -> web.StreamResponse:
    try:
        attachment_id = int(request.match_info["attachment_id"])
        expires = int(request.match_info["expires"])
    except ValueError as err:
        raise NotFound("not found") from err
    found = await tipmedia.linked_file(
        request.app[keys.KEYRING], attachment_id, expires, request.match_info["signature"]
    )
    store = tipmedia.store_for(request.app[keys.SETTINGS].data_dir)
    path = store.open_path(found.path)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": found.content_type,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Disposition": (
                "inline" if found.content_type.startswith("image/") else "attachment"
            ),
        },
    )


def setup_tipfiles(app: web.Application) -> None:
    app.router.add_get("/tipfile/{attachment_id}/{expires}/{signature}", tip_file, name="tipfile")
