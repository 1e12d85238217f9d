"""Driving a conversation the way the inbox worker runs it: a person writes or presses a
button, the engine answers, and the replies are read back from the outbox."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from bots.conversation import ConversationEngine
from communepol.db.models import ChannelAccount, Contact, Delivery, DeliveryKind
from communepol.ports import InboundEvent, InboundKind, Sender
from tests import pagekit


@dataclass
class Reply:
    text: str
    actions: list[str]
    labels: list[str]


def reply_of(payload: dict[str, Any]) -> Reply:
    buttons = [b for row in payload.get("buttons", []) for b in row if b["kind"] == "action"]
    return Reply(payload["text"], [b["action"] for b in buttons], [b["label"] for b in buttons])


class Chatter:
    """One person writing to one channel account; each message is one stored event."""

    # Stored event ids, unique across everyone in a test (replies' dedup keys use them).
    _events: ClassVar[itertools.count[int]] = itertools.count(1)

    def __init__(
        self, engine: ConversationEngine, account: ChannelAccount, user: str, name: str
    ) -> None:
        self.engine = engine
        self.account = account
        self.user = user
        self.name = name

    async def event(self, kind: InboundKind, **fields: Any) -> list[Reply]:
        number = next(Chatter._events)
        event = InboundEvent(
            event_id=f"{self.user}-{number}",
            kind=kind,
            chat_id=self.user,
            sender=Sender(self.user, self.name),
            message_id=f"m{number}",
            **fields,
        )
        before = await Delivery.filter(kind=DeliveryKind.REPLY).values_list("id", flat=True)
        await self.engine(self.account.id, number, event)
        rows = (
            await Delivery.filter(kind=DeliveryKind.REPLY)
            .exclude(id__in=list(before))
            .order_by("id")
        )
        return [reply_of(row.payload) for row in rows]

    async def send(self, text: str) -> list[Reply]:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            return await self.event(InboundKind.COMMAND, text=text, command=command, args=args)
        return await self.event(InboundKind.TEXT, text=text)

    async def press(self, action: str) -> list[Reply]:
        return await self.event(InboundKind.BUTTON, action=action)

    async def contact(self) -> Contact:
        key = pagekit.KEYRING.identity_hash(self.account.id, self.user)
        return await Contact.get(channel_account_id=self.account.id, identity_hash=key)
