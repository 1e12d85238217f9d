"""An in-memory `communepol.ports.Channel` for tests of the core (dispatcher, inbox worker,
conversations) that do not need a platform's wire format: it records every send and fails
on demand with any of the port's send errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from communepol.errors import ValidationError
from communepol.ports import (
    InboundEvent,
    OutboundMessage,
    Recipient,
    SendError,
    SendPurpose,
    SendResult,
    WebhookRejected,
    WebhookRequest,
)


@dataclass(frozen=True)
class Sent:
    chat_id: str
    message: OutboundMessage
    purpose: SendPurpose
    at: float


class FakeChannel:
    """Sends land in ``sent``; ``fail_next`` queues errors; ``before_send`` runs first."""

    supports_buttons = True
    max_text_length = 4096

    def __init__(self, account_id: int, *, secret: str = "s3cret") -> None:
        self.account_id = account_id
        self.secret = secret
        self.sent: list[Sent] = []
        self.attempts: list[tuple[str, float]] = []
        self.acknowledged: list[str] = []
        self.delay = 0.0
        self._errors: deque[SendError] = deque()
        self.error_for: Callable[[Recipient], SendError | None] | None = None
        self.closed = False

    def fail_next(self, error: SendError, times: int = 1) -> None:
        self._errors.extend([error] * times)

    def verify(self, request: WebhookRequest) -> None:
        if request.headers.get("X-Fake-Secret") != self.secret:
            raise WebhookRejected("wrong secret")

    def parse(self, body: bytes) -> Sequence[InboundEvent]:
        try:
            return [InboundEvent.from_json(json.dumps(item)) for item in json.loads(body)]
        except (ValueError, TypeError, KeyError) as err:
            raise ValidationError("malformed fake event") from err

    async def send(
        self, recipient: Recipient, message: OutboundMessage, purpose: SendPurpose
    ) -> SendResult:
        self.attempts.append((recipient.chat_id, time.monotonic()))
        if self.delay:
            await asyncio.sleep(self.delay)
        error = self._errors.popleft() if self._errors else None
        if error is None and self.error_for is not None:
            error = self.error_for(recipient)
        if error is not None:
            raise error
        self.sent.append(Sent(recipient.chat_id, message, purpose, time.monotonic()))
        return SendResult(platform_message_ids=(str(len(self.sent)),))

    async def acknowledge(self, event: InboundEvent) -> None:
        if event.callback_id:
            self.acknowledged.append(event.callback_id)

    async def close(self) -> None:
        self.closed = True

    def texts_to(self, chat_id: str) -> list[str]:
        return [s.message.text for s in self.sent if s.chat_id == chat_id]
