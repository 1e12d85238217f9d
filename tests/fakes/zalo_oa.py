"""A fake Zalo OA Open API and OAuth v4 server on one port, speaking Zalo's wire format.

OA API (``access_token`` header, JSON bodies, GET parameters as ``data=<json>``)::

    POST /v3.0/oa/message/cs | promotion | transaction    POST /v3.0/oa/group/message
    POST /v2.0/oa/upload/image | file                     GET  /v3.0/oa/user/detail
    POST /v3.0/oa/quota/message

OAuth: ``POST /v4/oa/access_token`` (form fields, ``secret_key`` header) with
``grant_type=refresh_token``. Refresh tokens are single use: reusing one answers ``-14020``.

Errors come back the way Zalo sends them: HTTP 200 with a non-zero ``error``. An invalid or
expired access token answers ``-216``. The fake also applies Zalo's 7-day rule to cs messages
when it knows when the person last wrote (event builders and `set_last_interaction` tell it).

Event builders return webhook envelopes as dicts; `signed` turns one into the exact body bytes
and headers Zalo would post, signed with the OA secret key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.base import FakePlatform, Fault

MAX_TEXT = 2000
MAX_UPLOAD = 5 * 1024 * 1024
BUTTON_TYPES = frozenset(
    {"oa.open.url", "oa.query.show", "oa.query.hide", "oa.open.phone", "oa.open.sms"}
)


@dataclass(frozen=True)
class SentMessage:
    """One message the fake accepted: which endpoint, to whom, and the ``message`` object."""

    endpoint: str  # "cs", "promotion", "transaction", "group"
    user_id: str | None
    group_id: str | None
    message: dict[str, Any]
    message_id: str

    @property
    def text(self) -> str:
        """What the person reads: the text, or a promotion's header and text blocks."""
        if isinstance(self.message.get("text"), str):
            return self.message["text"]
        payload = self.message.get("attachment", {}).get("payload", {})
        blocks = [
            element.get("content", "")
            for element in payload.get("elements", [])
            if element.get("type") in ("header", "text")
        ]
        return "\n".join(blocks)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return list(self.message.get("attachment", {}).get("payload", {}).get("buttons", []))


@dataclass(frozen=True)
class Upload:
    kind: str  # "image" or "file"
    filename: str
    content_type: str
    size: int
    attachment_id: str


def _new_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(16)


def _now_ms() -> int:
    return int(time.time() * 1000)


class FakeZaloOA(FakePlatform):
    """``async with FakeZaloOA() as fake:`` then point the adapter's api_base and oauth_base at
    ``fake.base_url`` and build it from ``fake.account_secrets()``."""

    def __init__(
        self,
        *,
        app_id: str = "2553928453557884079",
        app_secret: str = "fake-app-secret",
        oa_secret: str = "fake-oa-secret",
        oa_id: str = "3662729599332560487",
    ) -> None:
        super().__init__()
        self.app_id = app_id
        self.app_secret = app_secret
        self.oa_secret = oa_secret
        self.oa_id = oa_id
        self.access_token: str | None = _new_id("at-")
        self.refresh_token = _new_id("rt-")
        self._spent_refresh_tokens: set[str] = set()
        self.refresh_count = 0
        self.sent: list[SentMessage] = []
        self.uploads: list[Upload] = []
        self.profiles: dict[str, dict[str, Any]] = {}
        self._inbound_senders: dict[str, str] = {}  # inbound msg_id -> the user who wrote it
        self._last_interaction: dict[str, int] = {}  # user id -> epoch ms
        self._replies: dict[str, int] = {}
        for kind in ("cs", "promotion", "transaction"):
            self.app.router.add_post(f"/v3.0/oa/message/{kind}", self._send_handler(kind))
        self.app.router.add_post("/v3.0/oa/group/message", self._send_handler("group"))
        self.app.router.add_post("/v2.0/oa/upload/image", self._upload_handler("image"))
        self.app.router.add_post("/v2.0/oa/upload/file", self._upload_handler("file"))
        self.app.router.add_get("/v3.0/oa/user/detail", self._user_detail)
        self.app.router.add_post("/v3.0/oa/quota/message", self._quota)
        self.app.router.add_post("/v4/oa/access_token", self._access_token)

    # -- control, used by tests ------------------------------------------------------------

    def account_secrets(self) -> dict[str, str]:
        """The secrets a channel account for this OA holds, with the current token pair."""
        return {
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "oa_secret": self.oa_secret,
            "oa_id": self.oa_id,
            "access_token": self.access_token or "",
            "refresh_token": self.refresh_token,
        }

    def expire_access_token(self) -> None:
        """The current access token stops working; the refresh token still works."""
        self.access_token = None

    def add_user(self, user_id: str, display_name: str, **fields: Any) -> None:
        self.profiles[user_id] = {
            "user_id": user_id,
            "user_id_by_app": _new_id()[:18],
            "display_name": display_name,
            "user_alias": "",
            "user_is_follower": True,
            "avatar": f"https://s240-ava-talk.zadn.vn/{user_id}.jpg",
            "avatars": {"120": "", "240": f"https://s240-ava-talk.zadn.vn/{user_id}.jpg"},
            **fields,
        }

    def set_last_interaction(self, user_id: str, when: datetime) -> None:
        self._last_interaction[user_id] = int(when.timestamp() * 1000)

    def sent_to(self, user_id: str) -> list[SentMessage]:
        return [message for message in self.sent if message.user_id == user_id]

    def sent_texts(self, user_id: str) -> list[str]:
        return [message.text for message in self.sent_to(user_id)]

    def group_texts(self, group_id: str) -> list[str]:
        return [message.text for message in self.sent if message.group_id == group_id]

    def reset(self) -> None:
        super().reset()
        self.sent.clear()
        self.uploads.clear()

    # -- webhook events --------------------------------------------------------------------

    @staticmethod
    def sign(body: bytes, app_id: str, timestamp: str, oa_secret: str) -> str:
        """The ``X-ZEvent-Signature`` header value for ``body``."""
        digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode())
        return "mac=" + digest.hexdigest()

    def signed(
        self, event: dict[str, Any], *, oa_secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers Zalo would post for ``event`` (compact JSON, UTF-8)."""
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        signature = self.sign(
            body, str(event["app_id"]), str(event["timestamp"]), oa_secret or self.oa_secret
        )
        return body, {"Content-Type": "application/json", "X-ZEvent-Signature": signature}

    def text_event(
        self,
        user_id: str,
        text: str,
        *,
        msg_id: str | None = None,
        timestamp_ms: int | None = None,
        group_id: str | None = None,
    ) -> dict[str, Any]:
        """``user_send_text`` (``user_send_group_text`` when ``group_id`` is given)."""
        name = "user_send_group_text" if group_id else "user_send_text"
        return self._user_event(
            name, user_id, {"text": text}, msg_id, timestamp_ms, recipient=group_id
        )

    def image_event(
        self,
        user_id: str,
        url: str = "https://photo-stal-1.zadn.vn/example.jpg",
        *,
        caption: str = "",
        msg_id: str | None = None,
        timestamp_ms: int | None = None,
    ) -> dict[str, Any]:
        message = {
            "text": caption,
            "attachments": [
                {"type": "image", "payload": {"thumbnail": url, "url": url}},
            ],
        }
        return self._user_event("user_send_image", user_id, message, msg_id, timestamp_ms)

    def location_event(
        self,
        user_id: str,
        latitude: str = "12.6862",
        longitude: str = "108.0380",
        *,
        msg_id: str | None = None,
        timestamp_ms: int | None = None,
    ) -> dict[str, Any]:
        """Coordinates as strings, the way Zalo sends them."""
        message = {
            "text": "",
            "attachments": [
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": latitude, "longitude": longitude}},
                }
            ],
        }
        return self._user_event("user_send_location", user_id, message, msg_id, timestamp_ms)

    def follow_event(self, user_id: str, *, timestamp_ms: int | None = None) -> dict[str, Any]:
        return self._follower_event("follow", user_id, timestamp_ms)

    def unfollow_event(self, user_id: str, *, timestamp_ms: int | None = None) -> dict[str, Any]:
        return self._follower_event("unfollow", user_id, timestamp_ms)

    def submit_info_event(
        self, user_id: str, info: dict[str, Any], *, timestamp_ms: int | None = None
    ) -> dict[str, Any]:
        stamp = timestamp_ms if timestamp_ms is not None else _now_ms()
        self._last_interaction[user_id] = stamp
        return {
            "app_id": self.app_id,
            "user_id_by_app": _new_id()[:18],
            "event_name": "user_submit_info",
            "sender": {"id": user_id},
            "recipient": {"id": self.oa_id},
            "info": info,
            "timestamp": str(stamp),
        }

    def seen_event(
        self, user_id: str, msg_ids: list[str], *, timestamp_ms: int | None = None
    ) -> dict[str, Any]:
        """``user_seen_message``: the OA is the sender, the person the recipient."""
        stamp = timestamp_ms if timestamp_ms is not None else _now_ms()
        return {
            "app_id": self.app_id,
            "user_id_by_app": _new_id()[:18],
            "event_name": "user_seen_message",
            "sender": {"id": self.oa_id},
            "recipient": {"id": user_id},
            "message": {"msg_ids": list(msg_ids)},
            "timestamp": str(stamp),
        }

    def _user_event(
        self,
        name: str,
        user_id: str,
        message: dict[str, Any],
        msg_id: str | None,
        timestamp_ms: int | None,
        *,
        recipient: str | None = None,
    ) -> dict[str, Any]:
        stamp = timestamp_ms if timestamp_ms is not None else _now_ms()
        msg_id = msg_id or _new_id()[:20]
        if recipient is None:
            # The OA can answer this message by quoting its id, and the person counts as active.
            self._inbound_senders[msg_id] = user_id
            self._last_interaction[user_id] = stamp
        return {
            "app_id": self.app_id,
            "user_id_by_app": _new_id()[:18],
            "event_name": name,
            "sender": {"id": user_id},
            "recipient": {"id": recipient or self.oa_id},
            "message": {**message, "msg_id": msg_id},
            "timestamp": str(stamp),
        }

    def _follower_event(self, name: str, user_id: str, timestamp_ms: int | None) -> dict[str, Any]:
        stamp = timestamp_ms if timestamp_ms is not None else _now_ms()
        if name == "follow":
            self._last_interaction[user_id] = stamp
        return {
            "oa_id": self.oa_id,
            "follower": {"id": user_id},
            "user_id_by_app": _new_id()[:18],
            "event_name": name,
            "source": "oa_profile",
            "app_id": self.app_id,
            "timestamp": str(stamp),
        }

    # -- handlers --------------------------------------------------------------------------

    def _send_handler(self, kind: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            body = await _json_body(request)
            fault = await self.intercept(request, f"message/{kind}", body)
            if fault is not None:
                return _fault_response(fault)
            if not self._authorised(request):
                return _error(-216, "Access token is invalid")
            return self._send(kind, body)

        return handle

    def _send(self, kind: str, body: dict[str, Any]) -> web.Response:
        recipient = body.get("recipient")
        message = body.get("message")
        if not isinstance(recipient, dict) or not isinstance(message, dict):
            return _error(-201, "Parameters are invalid")
        problem = _message_problem(kind, message)
        if problem:
            return _error(-201, problem)
        user_id: str | None = None
        group_id: str | None = None
        if kind == "group":
            group_id = recipient.get("group_id")
            if not isinstance(group_id, str) or not group_id:
                return _error(-201, "group_id is invalid")
        elif kind == "cs" and "message_id" in recipient:
            user_id = self._inbound_senders.get(str(recipient["message_id"]))
            if user_id is None:
                return _error(-201, "message_id is invalid")
        else:
            user_id = recipient.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                return _error(-201, "user_id is invalid")
        if kind == "cs" and user_id is not None:
            last = self._last_interaction.get(user_id)
            if last is not None and _now_ms() - last > 7 * 24 * 3600 * 1000:
                return _error(-230, "User has not interacted with the OA in the past 7 days")
        message_id = _new_id()
        self.sent.append(SentMessage(kind, user_id, group_id, message, message_id))
        data: dict[str, Any] = {"message_id": message_id}
        if group_id is not None:
            data["group_id"] = group_id
        else:
            data["user_id"] = user_id
            data["quota"] = self._quota_for(kind, user_id or "", "message_id" in recipient)
        return web.json_response({"error": 0, "message": "Success", "data": data})

    def _quota_for(self, kind: str, user_id: str, quoted: bool) -> dict[str, str]:
        if kind == "cs" and quoted:
            used = self._replies[user_id] = self._replies.get(user_id, 0) + 1
            return {"quota_type": "reply", "remain": str(max(0, 8 - used)), "total": "8"}
        return {"quota_type": "sub_quota", "remain": "999", "total": "1000"}

    def _upload_handler(self, kind: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            form = await request.post()
            upload = form.get("file")
            params: dict[str, Any] = {}
            if isinstance(upload, web.FileField):
                content = upload.file.read()
                params = {
                    "filename": upload.filename,
                    "content_type": upload.content_type,
                    "size": len(content),
                }
            fault = await self.intercept(request, f"upload/{kind}", params)
            if fault is not None:
                return _fault_response(fault)
            if not self._authorised(request):
                return _error(-216, "Access token is invalid")
            if not params:
                return _error(-201, "file is missing")
            if params["size"] > MAX_UPLOAD:
                return _error(-210, "File size exceeds the limit")
            attachment_id = _new_id()
            self.uploads.append(
                Upload(
                    kind, params["filename"], params["content_type"], params["size"], attachment_id
                )
            )
            data = {"attachment_id": attachment_id} if kind == "image" else {"token": attachment_id}
            return web.json_response({"error": 0, "message": "Success", "data": data})

        return handle

    async def _user_detail(self, request: web.Request) -> web.Response:
        try:
            params = json.loads(request.query.get("data", ""))
        except ValueError:
            params = None
        fault = await self.intercept(
            request, "user/detail", params if isinstance(params, dict) else {}
        )
        if fault is not None:
            return _fault_response(fault)
        if not self._authorised(request):
            return _error(-216, "Access token is invalid")
        if not isinstance(params, dict) or not isinstance(params.get("user_id"), str):
            return _error(-201, "user_id is invalid")
        profile = self.profiles.get(params["user_id"])
        if profile is None:
            return _error(-213, "User has not followed the OA")
        return web.json_response({"error": 0, "message": "Success", "data": profile})

    async def _quota(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        fault = await self.intercept(request, "quota/message", body)
        if fault is not None:
            return _fault_response(fault)
        if not self._authorised(request):
            return _error(-216, "Access token is invalid")
        expiry = (datetime.now(UTC) + timedelta(days=30)).strftime("%d/%m/%Y")
        data = {"quota_type": "sub_quota", "remain": "999", "total": "1000", "expired_date": expiry}
        return web.json_response({"error": 0, "message": "Success", "data": data})

    async def _access_token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        fault = await self.intercept(request, "access_token", form)
        if fault is not None:
            return _fault_response(fault)
        if request.headers.get("secret_key") != self.app_secret:
            return _oauth_error(-14014, "Invalid secret key")
        if form.get("app_id") != self.app_id:
            return _oauth_error(-14001, "Invalid app id")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(-14001, "Unsupported grant type")
        refresh_token = form.get("refresh_token", "")
        if refresh_token in self._spent_refresh_tokens:
            return _oauth_error(-14020, "Refresh token is used")
        if refresh_token != self.refresh_token:
            return _oauth_error(-14019, "Invalid refresh token")
        self._spent_refresh_tokens.add(refresh_token)
        self.access_token = _new_id("at-")
        self.refresh_token = _new_id("rt-")
        self.refresh_count += 1
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": "90000",
            }
        )

    def _authorised(self, request: web.Request) -> bool:
        given = request.headers.get("access_token")
        return self.access_token is not None and given == self.access_token


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message_problem(kind: str, message: dict[str, Any]) -> str | None:
    """Why Zalo would refuse this ``message`` object, or None."""
    text = message.get("text")
    attachment = message.get("attachment")
    if text is None and attachment is None:
        return "message has neither text nor attachment"
    if text is not None and (not isinstance(text, str) or not 0 < len(text) <= MAX_TEXT):
        return "text is empty or too long"
    if attachment is None:
        return None if kind != "promotion" else "a promotion needs a template"
    if not isinstance(attachment, dict) or attachment.get("type") not in ("template", "file"):
        return "attachment is invalid"
    payload = attachment.get("payload")
    if not isinstance(payload, dict):
        return "attachment payload is invalid"
    template = payload.get("template_type")
    if kind == "promotion":
        if template != "promotion":
            return "a promotion needs template_type promotion"
        elements = payload.get("elements")
        if not isinstance(elements, list) or not elements:
            return "a promotion needs elements"
        for element in elements:
            if element.get("type") not in ("banner", "header", "text", "table"):
                return "unknown promotion element"
            if element.get("type") == "text" and len(element.get("content", "")) > MAX_TEXT:
                return "promotion text too long"
    elif template == "media":
        elements = payload.get("elements")
        if not isinstance(elements, list) or len(elements) != 1:
            return "a media template needs one element"
        element = elements[0]
        if not (element.get("url") or element.get("attachment_id")):
            return "a media element needs a url or attachment_id"
    elif template is not None and template not in ("list", "request_user_info"):
        return "unknown template_type"
    for button in payload.get("buttons", []):
        if not isinstance(button, dict) or button.get("type") not in BUTTON_TYPES:
            return "button type is invalid"
        if not isinstance(button.get("title"), str) or not button["title"]:
            return "button title is missing"
        if button["type"] == "oa.open.url" and not isinstance(button.get("payload"), dict):
            return "an oa.open.url button needs payload.url"
        if button["type"].startswith("oa.query") and not isinstance(button.get("payload"), str):
            return "a query button needs a string payload"
    return None


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message})


def _oauth_error(code: int, name: str) -> web.Response:
    return web.json_response(
        {
            "error_name": name,
            "error_reason": name,
            "ref_doc": "https://developers.zalo.me/docs/official-account/bat-dau/xac-thuc-va-uy-quyen-cho-ung-dung-new",
            "error_description": name,
            "error": code,
        }
    )


def _fault_response(fault: Fault) -> web.Response:
    if fault.kind == "rate_limited":
        return web.json_response(
            {"error": -32, "message": "Request limit exceeded"},
            status=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
    if fault.kind == "server_error":
        return web.json_response(
            {"error": -1, "message": fault.description or "Server error"},
            status=fault.status or 502,
        )
    if fault.kind == "forbidden":
        return _error(-213, fault.description)
    if fault.kind == "bad_request":
        return _error(-201, fault.description)
    if fault.kind == "platform_error":
        return _error(fault.code, fault.description)
    raise ValueError(f"FakeZaloOA cannot render fault {fault.kind!r}")
