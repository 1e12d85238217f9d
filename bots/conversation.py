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

Conversations that act for staff (``bots/officer``) need more than a turn: the settings, the
keyring, the channel adapters (to fetch a photo a person sent). The composition root hands
them to the engine as one `BotServices`; each turn carries it as ``turn.services`` (None where
the engine was built without it, as the resident conversation needs nothing of it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from communepol.clock import utcnow
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    Contact,
    ConversationState,
    DeliveryKind,
    Reachability,
)
from communepol.errors import CommunepolError, Unavailable, ValidationError
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
from communepol.services.channels import ChannelRegistry
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.services.outbox import Planned
from communepol.settings import Settings
from communepol.text import fold

log = logging.getLogger(__name__)

STATE_LIFETIME = timedelta(days=7)  # an abandoned conversation starts afresh after this
_OPTIONS = "_options"
# A Zalo OA "seen" receipt (one event per message, its id prefixed with the event name): the
# delivery with that platform message id is marked read for the post's statistics.
SEEN_RECEIPT = "user_seen_message:"


@dataclasses.dataclass(frozen=True)
class BotServices:
    """What conversations acting for staff need beyond the turn: the settings (for the post
    and alert services), the keyring (link codes, sealed identities) and the channel adapters
    (to fetch a file a person sent); ``channels`` is None where no adapter is reachable."""

    settings: Settings
    keyring: Keyring
    channels: ChannelRegistry | None = None


@runtime_checkable
class MediaSource(Protocol):
    """An adapter that can fetch a file a person sent (`Media.ref`) from its platform."""

    async def download(self, media: Media, *, max_bytes: int) -> bytes: ...


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
        base_url: str = "",
        services: BotServices | None = None,
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
        # The service's public address (links to pages and posts); "" when not configured.
        self.base_url = base_url.rstrip("/")
        self.services = services

    @property
    def has_chosen_language(self) -> bool:
        return self.contact.locale is not None

    def gettext(self, message: str, **params: Any) -> str:
        """``message`` in the contact's language (extracted by ``communepol i18n update``)."""
        return self.i18n.gettext(self.locale, message, **params)

    def error_text(self, err: CommunepolError) -> str:
        """A refusal from a service, in the contact's language."""
        return self.i18n.error_text(self.locale, err)

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        """The form of ``singular``/``plural`` for ``n`` in the contact's language ("1
        household", "3 households"; Vietnamese has one form); ``{n}`` is always available."""
        return self.i18n.ngettext(self.locale, singular, plural, n, **params)

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

    async def download(self, media: Media, *, max_bytes: int) -> bytes:
        """The bytes of a file this person sent, fetched from the platform through this
        account's adapter. `ValidationError` when this channel cannot fetch files or the file
        is larger than ``max_bytes``; the adapter's `SendError` when the platform fails."""
        channels = self.services.channels if self.services is not None else None
        if channels is None:
            raise ValidationError("files cannot be received on this channel", field="media")
        _, channel = await channels.get(self.account.id)
        if not isinstance(channel, MediaSource):
            raise ValidationError("files cannot be received on this channel", field="media")
        return await channel.download(media, max_bytes=max_bytes)


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
        self.phrases: dict[str, Handler] = {}
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

    def phrase(self, *words: str) -> Callable[[Handler], Handler]:
        """A message that starts with one of ``words`` and goes on ("liên kết ABCD-EFGH",
        matched folded); the rest of the message is handed over in ``turn.event.args``. Asked
        only when no step is waiting for the text, so a post title that happens to start with
        the words is still a title."""

        def register(handler: Handler) -> Handler:
            for word in words:
                self.phrases.setdefault(fold(word), handler)
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
        for word, handler in other.phrases.items():
            self.phrases.setdefault(word, handler)
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
        if event.kind is InboundKind.TEXT and event.text and self.phrases:
            handler = self._phrase(turn, event.text)
            if handler is not None:
                return handler
        handler = self.kinds.get(event.kind)
        if handler is not None:
            return handler
        if event.kind in (InboundKind.TEXT, InboundKind.COMMAND, InboundKind.BUTTON):
            return self.fallback
        return None

    def _phrase(self, turn: Turn, text: str) -> Handler | None:
        words = text.split()
        longest = max(len(phrase.split()) for phrase in self.phrases)
        for length in range(min(len(words) - 1, longest), 0, -1):  # the longest phrase first
            handler = self.phrases.get(fold(" ".join(words[:length])))
            if handler is not None:
                turn.event = dataclasses.replace(turn.event, args=" ".join(words[length:]))
                return handler
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
    """The inbox worker's handler: ``await engine(account_id, stored_event_id, event)``.

    ``base_url`` is the service's public address (``COMMUNEPOL_PUBLIC_BASE_URL``), handed to
    each turn so conversations can link to pages and posts; "" leaves links out. ``services``
    is what staff conversations need (`BotServices`); without it they are not available."""

    def __init__(
        self,
        router: Router,
        keyring: Keyring,
        i18n: I18n,
        *,
        base_url: str = "",
        services: BotServices | None = None,
    ) -> None:
        self.router = router
        self.keyring = keyring
        self.i18n = i18n
        self.base_url = base_url
        self.services = services

    async def __call__(self, account_id: int, stored_event_id: int, event: InboundEvent) -> None:
        if event.kind is InboundKind.RECEIPT:
            if event.message_id and (event.event_id or "").startswith(SEEN_RECEIPT):
                await outbox.mark_read(account_id, event.message_id, event.occurred_at)
            return
        if event.kind is InboundKind.IGNORED or event.chat_id is None:
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
        turn = Turn(
            account=account,
            contact=contact,
            event=event,
            i18n=self.i18n,
            state=state,
            base_url=self.base_url,
            services=self.services,
        )
        handler = self.router.resolve(turn)
        if handler is None:
            return
        try:
            await handler(turn)
        except Unavailable:
            raise  # retried by the inbox worker
        except CommunepolError as err:
            # A refusal the person can act on; the message is already safe to show.
            turn.say(
                turn.gettext("Sorry, that did not work: {reason}", reason=turn.error_text(err))
            )
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
        if contact.erased_at is not None:
            # They asked to be erased and came back: a returning person, no longer to be purged.
            changes["erased_at"] = None
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
