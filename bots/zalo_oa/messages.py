"""A channel-neutral `OutboundMessage` rendered as Zalo OA request bodies.

Which endpoint a message takes depends on why it is sent: replies and notifications are
consultation ("cs") messages, broadcasts and alerts are promotion messages (the only kind Zalo
lets an OA send to followers who have not written lately), and anything for a group goes to the
group endpoint. Zalo has no multi-row keyboard: rows are flattened into one button list, which
rides on the last message when a long text is split.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bots.zalo_oa.events import BUTTON_PREFIX
from communepol.clock import utcnow
from communepol.ports import (
    ButtonKind,
    Media,
    MediaKind,
    OutboundMessage,
    PermanentSendError,
    Recipient,
    SendPurpose,
    split_text,
)

CS_PATH = "/v3.0/oa/message/cs"
PROMOTION_PATH = "/v3.0/oa/message/promotion"
GROUP_PATH = "/v3.0/oa/group/message"

# Assumed, not documented for cs (a GMF page says 2000; clients truncate there).
MAX_TEXT_LENGTH = 2000
# The promotion header is a short title line; longer ones are cut and the full text follows.
MAX_HEADER_LENGTH = 100

# A media ref the core has not uploaded to Zalo yet: the adapter cannot send it by itself.
UPLOAD_REF_PREFIX = "upload:"


def endpoint(recipient: Recipient, purpose: SendPurpose) -> str:
    if recipient.is_group:
        return GROUP_PATH
    if purpose in (SendPurpose.BROADCAST, SendPurpose.ALERT):
        return PROMOTION_PATH
    return CS_PATH


def request_bodies(
    recipient: Recipient, message: OutboundMessage, path: str
) -> list[dict[str, Any]]:
    """One request body per message Zalo will show, in sending order."""
    target = _recipient(recipient, message, path)
    messages = _promotions(message) if path == PROMOTION_PATH else _chat_messages(message)
    return [{"recipient": target, "message": body} for body in messages]


def render_buttons(message: OutboundMessage) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    for button in message.flat_buttons:
        if button.kind is ButtonKind.ACTION:
            # oa.query.hide sends the payload back as the person's text without showing it in
            # the chat; `events.parse` turns the prefix back into a button press.
            buttons.append(
                {
                    "title": button.label,
                    "type": "oa.query.hide",
                    "payload": BUTTON_PREFIX + button.action,
                }
            )
        elif button.kind is ButtonKind.URL:
            buttons.append(
                {"title": button.label, "type": "oa.open.url", "payload": {"url": button.action}}
            )
        # ButtonKind.LOCATION has no Zalo equivalent (people share a location from the chat's
        # own menu), so it is left out rather than rendered as a button that does nothing.
    return buttons


FREE_REPLY_WINDOW = timedelta(hours=48)


def _recipient(recipient: Recipient, message: OutboundMessage, path: str) -> dict[str, str]:
    if path == GROUP_PATH:
        return {"group_id": recipient.chat_id}
    if path == CS_PATH and message.reply_to:
        # Quoting the person's message makes this one of the free replies of the 48-hour window;
        # the same text sent to the user_id counts as a paid proactive message.
        return {"message_id": message.reply_to}
    last = recipient.last_inbound_at
    latest = recipient.last_inbound_message_id
    if path == CS_PATH and latest and last is not None and utcnow() - last < FREE_REPLY_WINDOW:
        # Answering the person's latest message: still inside the free-reply window.
        return {"message_id": latest}
    return {"user_id": recipient.chat_id}


def _chat_messages(message: OutboundMessage) -> list[dict[str, Any]]:
    parts = split_text(message.text, MAX_TEXT_LENGTH) if message.text else []
    bodies: list[dict[str, Any]] = []
    if message.media is not None:
        photo: dict[str, Any] = {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "media", "elements": [_photo(message.media)]},
            }
        }
        # The caption is the text next to the attachment: the media's own caption when it has
        # one (then the message text follows), else the first part of the message text.
        if message.media.caption:
            caption_parts = split_text(message.media.caption, MAX_TEXT_LENGTH)
            photo["text"] = caption_parts[0]
            parts = caption_parts[1:] + parts
        elif parts:
            photo["text"] = parts.pop(0)
        bodies.append(photo)
    bodies += [{"text": part} for part in parts]
    if not bodies:
        raise PermanentSendError("an empty message cannot be sent")
    buttons = render_buttons(message)
    if buttons:
        last = bodies[-1]
        if "attachment" in last:
            last["attachment"]["payload"]["buttons"] = buttons
        else:
            last["attachment"] = {"type": "template", "payload": {"buttons": buttons}}
    return bodies


def _promotions(message: OutboundMessage) -> list[dict[str, Any]]:
    text = message.text.strip()
    if not text:
        raise PermanentSendError("a broadcast needs a text")
    # The first line is the promotion's header; the rest is its text block.
    header, _, rest = text.partition("\n")
    header = header.strip()
    if len(header) > MAX_HEADER_LENGTH:
        header, rest = header[: MAX_HEADER_LENGTH - 1].rstrip() + "…", text
    rest = rest.strip()
    parts: list[str | None] = list(split_text(rest, MAX_TEXT_LENGTH)) if rest else [None]
    bodies: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        elements: list[dict[str, Any]] = []
        if index == 0 and message.media is not None:
            image = _photo(message.media)
            if "url" in image:
                elements.append({"type": "banner", "image_url": image["url"]})
            else:
                elements.append({"type": "banner", "attachment_id": image["attachment_id"]})
        elements.append({"type": "header", "align": "left", "content": header})
        if part:
            elements.append({"type": "text", "align": "left", "content": part})
        payload: dict[str, Any] = {"template_type": "promotion", "elements": elements}
        bodies.append({"attachment": {"type": "template", "payload": payload}})
    buttons = render_buttons(message)
    if buttons:
        bodies[-1]["attachment"]["payload"]["buttons"] = buttons
    return bodies


def _photo(media: Media) -> dict[str, str]:
    if media.kind is not MediaKind.PHOTO:
        raise PermanentSendError("only photos can be sent through a Zalo OA")
    if media.ref.startswith(UPLOAD_REF_PREFIX):
        raise PermanentSendError("a stored upload must be uploaded to Zalo before it is sent")
    # A URL Zalo fetches itself, or the attachment_id `upload_image` returned.
    key = "url" if media.ref.startswith(("https://", "http://")) else "attachment_id"
    return {"media_type": "image", key: media.ref}


__all__ = [
    "CS_PATH",
    "GROUP_PATH",
    "MAX_TEXT_LENGTH",
    "PROMOTION_PATH",
    "endpoint",
    "render_buttons",
    "request_bodies",
]
