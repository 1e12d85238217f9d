"""The conversation kit: a turn in, replies and buttons out, state per contact.

Conversations (``bots/resident``, later the officer and group ones) are written once against
this kit and run on every platform. A `Router` maps commands, button actions, conversation
steps and event kinds to handlers; a handler gets a `Turn` — the event, the contact, their
language, their stored state — and answers with `Turn.say`. The `ConversationEngine` is what
the inbox worker calls for each stored event: it finds the contact, turns a typed "2" (or a
typed button label) into a press of the second button offered last — so platforms without
buttons work the same —, runs the handler, stores the state and plans the replies in the
outbox, all inside the worker's transaction.

State lives in the ``conversation_state`` table (one row per contact), so a conversation
survives a restart and works with several processes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    Contact,
    ConversationState,
    DeliveryKind,
    Reachability,
)
from communepol.errors import CommunepolError, Unavailable
from communepol.i18n import I18n
from communepol.ports import (
    Button,
    ButtonKind,
    InboundEvent,
    InboundKind,
    Media,
    OutboundMessage,
)
from communepol.services import outbox
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.outbox import Planned
from communepol.text import fold

log = logging.getLogger(__name__)

STATE_LIFETIME = timedelta(days=7)  # an abandoned conversation starts afresh after this
_OPTIONS = "_options"


class Turn:
    """One inbound event being answered."""

    def __init__(
        self,
        *,
        account: ChannelAccount,
        contact: Contact,
        event: InboundEvent,
        i18n: I18n,
        state: ConversationState | None,
    ) -> None:
        self.account = account
        self.contact = contact
        self.event = event
        self.i18n = i18n
        self.locale = i18n.normalize_locale(contact.locale)
        self.flow = state.flow if state else ""
        self.step = state.step if state else ""
        self.data: dict[str, Any] = dict(state.data) if state else {}
        self.offered: list[list[str]] = self.data.pop(_OPTIONS, None) or []
        self.replies: list[OutboundMessage] = []

    @property
    def has_chosen_language(self) -> bool:
        return self.contact.locale is not None

    def gettext(self, message: str, **params: Any) -> str:
        """``message`` in the contact's language (extracted by ``communepol i18n update``)."""
        return self.i18n.gettext(self.locale, message, **params)

    def say(
        self,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        media: Media | None = None,
    ) -> None:
        self.replies.append(
            OutboundMessage(text=text, buttons=tuple(tuple(row) for row in buttons), media=media)
        )

    def go(self, flow: str, step: str, **data: Any) -> None:
        """Continue in ``flow`` at ``step``; ``data`` is merged into the stored data."""
        self.flow, self.step = flow, step
        self.data.update(data)

    def end(self) -> None:
        self.flow, self.step, self.data = "", "", {}


Handler = Callable[[Turn], Awaitable[None]]


class Router:
    """Which handler answers which event. Routers of several conversations are combined with
    `include`; the first registration of a command or action wins."""

    def __init__(self) -> None:
        self.commands: dict[str, Handler] = {}
        self.actions: dict[str, Handler] = {}
        self.steps: dict[tuple[str, str], Handler] = {}
        self.kinds: dict[InboundKind, Handler] = {}
        self.keywords: dict[str, Handler] = {}
        self.fallback: Handler | None = None

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """``/name`` in any language's spelling (``/help``, ``/giup``)."""

        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands.setdefault(name.lower(), handler)
            return handler

        return register

    def keyword(self, *words: str) -> Callable[[Handler], Handler]:
        """A whole message that is one of ``words`` (folded: "Giúp", "giup" and "GIÚP" match)."""

        def register(handler: Handler) -> Handler:
            for word in words:
                self.keywords.setdefault(fold(word), handler)
            return handler

        return register

    def action(self, prefix: str) -> Callable[[Handler], Handler]:
        """Button actions ``prefix`` or ``prefix:…``."""

        def register(handler: Handler) -> Handler:
            self.actions.setdefault(prefix, handler)
            return handler

        return register

    def step(self, flow: str, step: str) -> Callable[[Handler], Handler]:
        """Text, a location, media or shared info while the contact is at ``flow``/``step``."""

        def register(handler: Handler) -> Handler:
            self.steps.setdefault((flow, step), handler)
            return handler

        return register

    def on(self, kind: InboundKind) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.kinds.setdefault(kind, handler)
            return handler

        return register

    def otherwise(self, handler: Handler) -> Handler:
        """Anything nothing else answers (the help reply)."""
        self.fallback = self.fallback or handler
        return handler

    def include(self, other: Router) -> None:
        for name, handler in other.commands.items():
            self.commands.setdefault(name, handler)
        for word, handler in other.keywords.items():
            self.keywords.setdefault(word, handler)
        for prefix, handler in other.actions.items():
            self.actions.setdefault(prefix, handler)
        for key, handler in other.steps.items():
            self.steps.setdefault(key, handler)
        for kind, handler in other.kinds.items():
            self.kinds.setdefault(kind, handler)
        self.fallback = self.fallback or other.fallback

    def resolve(self, turn: Turn) -> Handler | None:
        event = turn.event
        if event.kind is InboundKind.BUTTON and event.action:
            return self.actions.get(event.action.split(":", 1)[0])
        if event.kind is InboundKind.COMMAND and event.command:
            handler = self.commands.get(event.command.lower())
            if handler is not None:
                return handler
        if event.kind is InboundKind.TEXT and event.text:
            handler = self.keywords.get(fold(event.text))
            if handler is not None:
                return handler
        answerable = (InboundKind.TEXT, InboundKind.LOCATION, InboundKind.MEDIA)
        if turn.flow and (event.kind in answerable or event.kind is InboundKind.USER_INFO):
            handler = self.steps.get((turn.flow, turn.step))
            if handler is not None:
                return handler
        handler = self.kinds.get(event.kind)
        if handler is not None:
            return handler
        if event.kind in (InboundKind.TEXT, InboundKind.COMMAND, InboundKind.BUTTON):
            return self.fallback
        return None


def pressed_option(event: InboundEvent, options: Sequence[Sequence[str]]) -> InboundEvent:
    """A typed "2", or a typed button label, as a press of that button (platforms without
    buttons show numbered options; Telegram's reply keyboards send the label as text)."""
    if event.kind is not InboundKind.TEXT or not event.text or not options:
        return event
    typed = event.text.strip().rstrip(".)")
    if typed.isdigit() and 1 <= int(typed) <= len(options):
        action = options[int(typed) - 1][1]
        return dataclasses.replace(event, kind=InboundKind.BUTTON, action=action)
    folded = fold(event.text)
    for label, action in options:
        if folded and fold(label) == folded:
            return dataclasses.replace(event, kind=InboundKind.BUTTON, action=action)
    return event


def _offered(replies: Sequence[OutboundMessage]) -> list[list[str]]:
    """The action buttons of the last reply that had any, numbered as the adapters number them."""
    for reply in reversed(replies):
        actions = [b for b in reply.flat_buttons if b.kind is ButtonKind.ACTION]
        if actions:
            return [[b.label, b.action] for b in actions]
    return []


class ConversationEngine:
    """The inbox worker's handler: ``await engine(account_id, stored_event_id, event)``."""

    def __init__(self, router: Router, keyring: Keyring, i18n: I18n) -> None:
        self.router = router
        self.keyring = keyring
        self.i18n = i18n

    async def __call__(self, account_id: int, stored_event_id: int, event: InboundEvent) -> None:
        if event.kind in (InboundKind.RECEIPT, InboundKind.IGNORED) or event.chat_id is None:
            return
        if event.is_group:
            return  # community groups get their own conversation with the groups issue
        account = await ChannelAccount.get(id=account_id)
        sender = event.sender
        contact, _ = await find_or_create_contact(
            self.keyring,
            account,
            ContactIdentity(
                platform_user_id=event.chat_id,
                display_name=sender.display_name if sender else None,
            ),
            locale=None,
        )
        await self._note_inbound(contact, event)
        state = await ConversationState.get_or_none(contact_id=contact.id)
        if state is not None and state.expires_at is not None and state.expires_at < utcnow():
            state = None
        if state is not None:
            event = pressed_option(event, state.data.get(_OPTIONS) or [])
        turn = Turn(account=account, contact=contact, event=event, i18n=self.i18n, state=state)
        handler = self.router.resolve(turn)
        if handler is None:
            return
        try:
            await handler(turn)
        except Unavailable:
            raise  # retried by the inbox worker
        except CommunepolError as err:
            # A refusal the person can act on; the message is already safe to show.
            turn.say(turn.gettext("Sorry, that did not work: {reason}", reason=err.message))
        await self._save_state(contact, turn)
        await outbox.enqueue_many(
            Planned(
                channel_account_id=account.id,
                message=reply,
                kind=DeliveryKind.REPLY,
                dedup_key=f"reply:{stored_event_id}:{number}",
                contact_id=contact.id,
            )
            for number, reply in enumerate(turn.replies)
        )

    async def _note_inbound(self, contact: Contact, event: InboundEvent) -> None:
        changes: dict[str, Any] = {"last_inbound_at": event.occurred_at or utcnow()}
        if event.message_id:
            changes["last_inbound_message_id"] = event.message_id[:128]
        if event.kind is InboundKind.UNFOLLOW:
            await outbox.skip_unreachable(contact.id, "unfollowed")
            return
        if contact.reachability is not Reachability.REACHABLE:
            # They wrote to us (or followed again): reachable again.
            changes["reachability"] = Reachability.REACHABLE
            changes["unreachable_reason"] = None
        await Contact.filter(id=contact.id).update(**changes)
        for key, value in changes.items():
            setattr(contact, key, value)

    async def _save_state(self, contact: Contact, turn: Turn) -> None:
        data = dict(turn.data)
        # Options stay answerable until a new reply replaces them.
        options = _offered(turn.replies) if turn.replies else turn.offered
        if options:
            data[_OPTIONS] = options
        if not turn.flow and not data:
            await ConversationState.filter(contact_id=contact.id).delete()
            return
        await ConversationState.update_or_create(
            defaults={
                "flow": turn.flow,
                "step": turn.step,
                "data": data,
                "expires_at": utcnow() + STATE_LIFETIME,
            },
            contact_id=contact.id,
        )
