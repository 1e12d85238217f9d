"""The conversation kit: numbered and typed-label answers, state that survives a restart, the
contact's language, refusals as replies, and unfollowing."""

from __future__ import annotations

from tortoise.context import TortoiseContext

from bots.conversation import ConversationEngine, Router, Turn, pressed_option
from communepol.app import resident_conversations
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Contact,
    ConversationState,
    Delivery,
    DeliveryStatus,
    Reachability,
)
from communepol.errors import ValidationError
from communepol.i18n import I18n
from communepol.ports import Button, InboundEvent, InboundKind, Sender
from tests.conftest import TEST_SECRET_KEY

KEYRING = Keyring(TEST_SECRET_KEY)
I18N = I18n.load(default_locale="vi")


class Chat:
    """A resident talking to an engine, the way the inbox worker would call it."""

    def __init__(self, engine: ConversationEngine, account: ChannelAccount) -> None:
        self.engine = engine
        self.account = account
        self.n = 0

    async def send(self, kind: InboundKind = InboundKind.TEXT, **fields: object) -> list[str]:
        self.n += 1
        event = InboundEvent(
            event_id=f"e{self.n}",
            kind=kind,
            chat_id="resident-1",
            sender=Sender("resident-1", "Hương"),
            message_id=f"m{self.n}",
            **fields,  # type: ignore[arg-type]
        )
        before = await Delivery.all().count()
        await self.engine(self.account.id, self.n, event)
        rows = await Delivery.all().order_by("id").offset(before)
        return [row.payload["text"] for row in rows]


async def _chat(router: Router | None = None) -> Chat:
    account = await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="kit")
    engine = ConversationEngine(router or resident_conversations(), KEYRING, I18N)
    return Chat(engine, account)


def test_a_typed_number_or_label_presses_the_offered_button() -> None:
    options = [["Tiếng Việt", "lang:vi"], ["English", "lang:en"]]
    text = InboundEvent(event_id="1", kind=InboundKind.TEXT, chat_id="c", text=" 2. ")
    assert pressed_option(text, options).action == "lang:en"
    label = InboundEvent(event_id="1", kind=InboundKind.TEXT, chat_id="c", text="tieng viet")
    assert pressed_option(label, options).action == "lang:vi"
    other = InboundEvent(event_id="1", kind=InboundKind.TEXT, chat_id="c", text="3")
    assert pressed_option(other, options).kind is InboundKind.TEXT


async def test_language_choice_by_number_is_remembered_across_a_restart(
    db: TortoiseContext,
) -> None:
    chat = await _chat()
    [greeting] = await chat.send(InboundKind.COMMAND, command="start", args="page-ea-kar")
    assert "Bạn muốn dùng ngôn ngữ nào?" in greeting
    state = await ConversationState.get()
    assert state.data["start"] == "page-ea-kar"
    # A new engine is a restarted process: the offered options come from the database.
    restarted = Chat(ConversationEngine(resident_conversations(), KEYRING, I18N), chat.account)
    restarted.n = chat.n
    replies = await restarted.send(text="2")
    assert replies[0] == "Language set: English."
    assert (await Contact.get()).locale == "en"
    replies = await restarted.send(text="Giúp")
    assert "You can write to us here at any time." in replies[0]


async def test_vietnamese_is_the_language_once_chosen(db: TortoiseContext) -> None:
    chat = await _chat()
    await chat.send(InboundKind.COMMAND, command="start")
    replies = await chat.send(InboundKind.BUTTON, action="lang:vi")
    assert replies[0] == "Đã chọn ngôn ngữ: Tiếng Việt."
    replies = await chat.send(text="hmm?")
    assert replies[0] == "Xin lỗi, tôi chưa hiểu tin nhắn này."


async def test_a_refusal_becomes_a_reply_and_changes_nothing(db: TortoiseContext) -> None:
    router = Router()

    @router.command("fail")
    async def fail(turn: Turn) -> None:
        turn.go("flow", "step")
        raise ValidationError("that commune does not exist")

    chat = await _chat(router)
    replies = await chat.send(InboundKind.COMMAND, command="fail")
    assert replies == ["Xin lỗi, chưa thực hiện được: that commune does not exist"]


async def test_steps_receive_text_until_the_flow_ends(db: TortoiseContext) -> None:
    router = Router()

    @router.command("ask")
    async def ask(turn: Turn) -> None:
        turn.go("demo", "name")
        turn.say("Name?", buttons=[[Button("Cancel", "cancel")]])

    @router.step("demo", "name")
    async def name(turn: Turn) -> None:
        turn.end()
        turn.say(f"Thanks, {turn.event.text}")

    @router.action("cancel")
    async def cancel(turn: Turn) -> None:
        turn.end()
        turn.say("Cancelled")

    chat = await _chat(router)
    assert await chat.send(InboundKind.COMMAND, command="ask") == ["Name?"]
    assert await chat.send(text="Hương") == ["Thanks, Hương"]
    assert not await ConversationState.exists()
    await chat.send(InboundKind.COMMAND, command="ask")
    assert await chat.send(text="1") == ["Cancelled"]


async def test_unfollowing_stops_pending_messages_and_writing_again_resumes(
    db: TortoiseContext,
) -> None:
    chat = await _chat()
    await chat.send(InboundKind.COMMAND, command="start")
    await chat.send(InboundKind.UNFOLLOW)
    contact = await Contact.get()
    assert contact.reachability is Reachability.UNREACHABLE
    assert await Delivery.filter(status=DeliveryStatus.UNREACHABLE).count() == 1
    await chat.send(InboundKind.FOLLOW)
    assert (await Contact.get()).reachability is Reachability.REACHABLE
