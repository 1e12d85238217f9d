"""Fetching a file a person sent from where the platform keeps it, with a size cap.

The adapters' ``download`` methods (a photo an officer sends for a post) end in one plain GET:
Telegram's file URL after ``getFile``, the URL a Zalo event carries. The body is read in
chunks and the read stops as soon as it passes the cap, so a huge or endless answer costs at
most the cap in memory. Errors are the port's: the URL may carry a bot token, so no error
quotes it and aiohttp's own exceptions are never chained.
"""

from __future__ import annotations

import aiohttp

from communepol.errors import ValidationError
from communepol.i18n import _
from communepol.ports import PermanentSendError, TransientSendError

CHUNK = 64 * 1024
_MIB = 1024 * 1024
# Seconds for the whole file: a photo, not a video. Short, because the conversation that asks
# runs inside the inbox worker's transaction (on SQLite the process's one connection waits).
DOWNLOAD_TIMEOUT = 15.0


def too_large(max_bytes: int) -> ValidationError:
    # The media store's refusal, word for word: one msgid for both.
    return ValidationError(
        _("the file is larger than {size:.3g} MB"), field="media", size=max_bytes / _MIB
    )


async def fetch_capped(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    platform: str,
    time_limit: float = DOWNLOAD_TIMEOUT,
) -> bytes:
    """The body of ``GET url``, at most ``max_bytes`` long (`ValidationError` beyond)."""
    if not url.startswith(("https://", "http://")):
        raise PermanentSendError(f"{platform} gave a file reference that is not a link")
    try:
        async with session.get(
            url, timeout=aiohttp.ClientTimeout(total=time_limit), allow_redirects=True
        ) as response:
            if response.status == 404 or response.status == 410:
                raise PermanentSendError(f"{platform} no longer has this file")
            if response.status >= 500 or response.status == 429:
                raise TransientSendError(f"{platform} could not hand over the file now")
            if response.status != 200:
                raise PermanentSendError(
                    f"{platform} refused the file download (HTTP {response.status})"
                )
            if response.content_length is not None and response.content_length > max_bytes:
                raise too_large(max_bytes)
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise too_large(max_bytes)
            return bytes(body)
    except TimeoutError:
        raise TransientSendError(f"{platform} did not hand over the file in time") from None
    except aiohttp.ClientError as err:
        raise TransientSendError(
            f"{platform} could not be reached for the file ({type(err).__name__})"
        ) from None
