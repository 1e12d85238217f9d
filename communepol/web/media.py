"""Post attachments at ``/media/{id}/{filename}``: the photos and PDFs of published posts, which
the platforms fetch to show a post's image and residents open from the public page.

Only attachments of published posts on active pages are served (`posts.public_attachment`);
the file is the metadata-stripped copy the media store keeps, sent with its sniffed type and
``nosniff``. The filename in the address is cosmetic: the id decides.
"""

from __future__ import annotations

from aiohttp import web

from communepol import keys
from communepol.errors import NotFound
from communepol.services import posts


async def attachment(request: web.Request) -> web.StreamResponse:
    try:
        attachment_id = int(request.match_info["attachment_id"])
    except ValueError as err:
        raise NotFound("not found") from err
    found = await posts.public_attachment(attachment_id)
    path = posts.media_store(request.app[keys.SETTINGS]).open_path(found.storage_path)
    if not path.is_file():
        raise NotFound("not found")
    response = web.FileResponse(
        path,
        headers={
            "Content-Type": found.content_type,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "public, max-age=86400",
            "Content-Disposition": (
                "inline" if found.content_type.startswith("image/") else "attachment"
            ),
        },
    )
    return response


def setup_media(app: web.Application) -> None:
    app.router.add_get("/media/{attachment_id}/{filename}", attachment, name="media")
