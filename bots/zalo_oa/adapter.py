"""The Zalo Official Account adapter: `communepol.ports.Channel` over the OA Open API.

Inbound: Zalo posts events to the webhook set in its developer console (there is no API to set
it, so this adapter is not `Pollable`); `verify` checks the ``X-ZEvent-Signature`` and `parse`
turns the body into `InboundEvent`s; `download` fetches a file a person sent (its URL), with a
size cap. Outbound: `send` picks the cs, promotion or group endpoint by purpose, renders
buttons as Zalo query/url buttons, and maps Zalo's error codes onto the port's `SendError`
tree. An expired access token (``-216`` or HTTP 401) is renewed once and the
call repeated once; see `bots.zalo_oa.tokens` for how renewals are kept single.

Zalo answers most errors with HTTP 200 and a non-zero ``error``; its ``message`` field is never
copied into our errors or logs (it can echo ids), only the numeric code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bots.fetch import fetch_capped
from bots.zalo_oa import messages
from bots.zalo_oa.events import parse
from bots.zalo_oa.signature import check_webhook
from bots.zalo_oa.tokens import TOKEN_PATH, AccessTokens, error_code, read_json, retry_seconds
from communepol.clock import utcnow
from communepol.errors import ValidationError
from communepol.ports import (
    AccountRefused,
    InboundEvent,
    Media,
    NotAllowedNow,
    OutboundMessage,
    PermanentSendError,
    Recipient,
    RetryAfter,
    SecretsStore,
    SendPurpose,
    SendResult,
    TransientSendError,
    WebhookRequest,
)

log = logging.getLogger(__name__)

TOKEN_INVALID = -216
# A quota, package or window forbids the message: shown to staff, never retried blindly.
#   -224 the OA package lacks the feature, -230 no interaction for 7 days,
#   -213 the person does not follow the OA / has not interacted.
NOT_ALLOWED_NOW = frozenset({-224, -230, -213})

# Zalo refuses cs messages to people who have not written for 7 days (-230); checking first
# saves a call and tells staff why without spending a request.
CS_WINDOW = timedelta(days=7)

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the cap the Zalo SDKs enforce on uploads
UPLOAD_IMAGE_PATH = "/v2.0/oa/upload/image"
USER_DETAIL_PATH = "/v3.0/oa/user/detail"

Body = Callable[[], aiohttp.FormData]


class ZaloOAChannel:
    """One Zalo OA account. ``secrets``: app_id, app_secret (token calls), oa_secret (webhook
    signatures), access_token, refresh_token, optional oa_id."""

    supports_buttons = True
    max_text_length = messages.MAX_TEXT_LENGTH

    def __init__(
        self,
        account_id: int,
        secrets: Mapping[str, Any],
        *,
        api_base: str,
        oauth_base: str,
        store: SecretsStore | None = None,
        request_timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.account_id = account_id
        self.app_id = _secret(secrets, "app_id", required=True) or ""
        self.oa_id = _secret(secrets, "oa_id", required=False)
        self._oa_secret = _secret(secrets, "oa_secret", required=True) or ""
        self._api_base = api_base.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._clock = clock
        self._tokens = AccessTokens(
            account_id=account_id,
            app_id=self.app_id,
            app_secret=_secret(secrets, "app_secret", required=False),
            access_token=_secret(secrets, "access_token", required=False),
            refresh_token=_secret(secrets, "refresh_token", required=False),
            token_url=oauth_base.rstrip("/") + TOKEN_PATH,
            store=store,
            session=self._http,
            timeout=self._timeout,
            clock=clock,
            # Long enough for one OAuth call to finish or time out, short enough that a crashed
            # holder blocks the others only briefly.
            lease_seconds=request_timeout + 10,
        )

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        check_webhook(request, app_id=self.app_id, oa_secret=self._oa_secret, now=self._clock())

    def parse(self, body: bytes) -> list[InboundEvent]:
        return parse(body)

    async def acknowledge(self, event: InboundEvent) -> None:
        """Nothing to do: Zalo needs no answer beyond the webhook's HTTP 200."""

    async def download(self, media: Media, *, max_bytes: int) -> bytes:
        """The bytes of ``media`` (its ``ref`` is the URL in the event), at most ``max_bytes``.
        Zalo's file links need no access token."""
        return await fetch_capped(self._http(), media.ref, max_bytes=max_bytes, platform="Zalo OA")

    # -- outbound --------------------------------------------------------------------------

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        path = messages.endpoint(recipient, purpose)
        if path == messages.CS_PATH and self._outside_cs_window(recipient.last_inbound_at):
            raise NotAllowedNow(
                "the person has not written to the OA in the last 7 days", code="window"
            )
        ids: list[str] = []
        quota_note: str | None = None
        for body in messages.request_bodies(recipient, message, path):
            data = await self._call("POST", path, json_body=body)
            message_id = data.get("message_id")
            if isinstance(message_id, str | int) and not isinstance(message_id, bool):
                ids.append(str(message_id))
            quota = data.get("quota")
            if isinstance(quota, dict) and isinstance(quota.get("quota_type"), str):
                quota_note = quota["quota_type"]
        return SendResult(platform_message_ids=tuple(ids), quota_note=quota_note)

    async def upload_image(self, data: bytes, filename: str, content_type: str) -> str:
        """Upload an image; the returned attachment id can be sent as a PHOTO media ref."""
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValidationError("an image for Zalo must be at most 5 MB", field="file")

        def form() -> aiohttp.FormData:
            # Built per attempt: a FormData is spent once it has been sent.
            body = aiohttp.FormData()
            body.add_field("file", data, filename=filename, content_type=content_type)
            return body

        answer = await self._call("POST", UPLOAD_IMAGE_PATH, form=form)
        attachment_id = answer.get("attachment_id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise PermanentSendError("Zalo accepted the upload but returned no attachment id")
        return attachment_id

    async def get_profile(self, user_id: str) -> dict[str, Any]:
        """The follower's profile (``display_name``, ``avatars``, ``shared_info``...)."""
        query = {"data": json.dumps({"user_id": user_id}, separators=(",", ":"))}
        return await self._call("GET", USER_DETAIL_PATH, query=query)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- plumbing --------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use so that building an adapter needs no running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    def _outside_cs_window(self, last_inbound_at: datetime | None) -> bool:
        if last_inbound_at is None:
            return False
        if last_inbound_at.tzinfo is None:  # stored times are UTC
            last_inbound_at = last_inbound_at.replace(tzinfo=UTC)
        return self._clock() - last_inbound_at > CS_WINDOW

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        form: Body | None = None,
    ) -> dict[str, Any]:
        """One API call's ``data``, renewing the access token once if Zalo refuses it."""
        renewed = False
        while True:
            token = self._tokens.current
            status, retry_after, answer = await self._request(
                method, path, token, json_body=json_body, query=query, form=form
            )
            code = error_code(answer) if status == 200 else None
            if status == 401 or code == TOKEN_INVALID:
                if renewed:
                    raise AccountRefused("Zalo OA refused the access token even after renewal")
                await self._tokens.renew(token)
                renewed = True
                continue
            return _outcome(status, retry_after, answer, code)

    async def _request(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json_body: Mapping[str, Any] | None,
        query: Mapping[str, str] | None,
        form: Body | None,
    ) -> tuple[int, str | None, Any]:
        try:
            async with self._http().request(
                method,
                self._api_base + path,
                json=json_body,
                params=query,
                data=form() if form is not None else None,
                headers={"access_token": token},
                timeout=self._timeout,
            ) as response:
                raw = await response.read()
                return response.status, response.headers.get("Retry-After"), read_json(raw)
        except (aiohttp.ClientError, TimeoutError) as err:
            # ``from None``: a client error can quote the URL, and a GET's URL carries user ids.
            raise TransientSendError(
                f"Zalo OA could not be reached ({type(err).__name__})"
            ) from None


def _outcome(status: int, retry_after: str | None, answer: Any, code: int | None) -> dict[str, Any]:
    if status == 429:
        raise RetryAfter(retry_seconds(retry_after), "rate limited by Zalo OA")
    if status >= 500:
        raise TransientSendError(f"Zalo OA answered HTTP {status}")
    if status != 200:
        raise PermanentSendError(f"Zalo OA answered HTTP {status}")
    if code is None:
        raise TransientSendError("Zalo OA gave an unreadable answer")
    if code == 0:
        data = answer.get("data")
        return data if isinstance(data, dict) else {}
    if code in NOT_ALLOWED_NOW:
        raise NotAllowedNow(
            f"Zalo OA does not allow this message now (error {code})", code=str(code)
        )
    raise PermanentSendError(f"Zalo OA refused the request (error {code})")


def _secret(secrets: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = secrets.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an app id pasted as a number
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"a Zalo OA account needs its {key}", field=key)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"the Zalo OA {key} must be text", field=key)
    return value.strip()


__all__ = ["NOT_ALLOWED_NOW", "ZaloOAChannel", "parse"]
