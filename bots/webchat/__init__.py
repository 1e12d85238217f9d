"""The web chat adapter: the service is the platform. Sending means the reply is now in the
outbox as sent; the visitor's open event stream is woken to read it. There is no webhook:
messages arrive through `communepol.web.webchat`."""

from __future__ import annotations

from collections.abc import Sequence

from communepol.errors import ValidationError
from communepol.ports import (
    InboundEvent,
    OutboundMessage,
    Recipient,
    SendPurpose,
    SendResult,
    WebhookRejected,
    WebhookRequest,
)
from communepol.web.chathub import WebchatHub


class WebchatChannel:
    supports_buttons = True
    max_text_length = 4000

    def __init__(self, account_id: int, hub: WebchatHub) -> None:
        self.account_id = account_id
        self._hub = hub

    def verify(self, request: WebhookRequest) -> None:
        raise WebhookRejected("the web chat has no webhook")

    def parse(self, body: bytes) -> Sequence[InboundEvent]:
        raise ValidationError("the web chat has no webhook")

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        # The row becomes "sent" when this returns; the stream reads it from the outbox.
        self._hub.notify(recipient.chat_id)
        return SendResult()

    async def acknowledge(self, event: InboundEvent) -> None:
        return None

    async def close(self) -> None:
        return None
