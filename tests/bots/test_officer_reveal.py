"""Asking who sent an anonymous tip, in the bot: an officer states a reason, a supervisor over
the tip decides, and only then is the sender shown — to the officer who asked, and to nobody
else. A short reason is asked again; nobody decides their own request."""

from __future__ import annotations

from tortoise.context import TortoiseContext

from communepol.db.models import AuditEvent, Contact, Delivery, DeliveryKind, RevealRequest
from communepol.services import reveal
from communepol.services import staff as roster
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.settings import Settings
from tests import pagekit
from tests.bots.test_officer_tips import Person, district, linked, ref, submit

REASON = "Người báo tin là nhân chứng duy nhất của vụ cướp, cần mời làm chứng."


async def test_a_reveal_needs_a_reason_and_a_second_person_and_shows_only_to_its_asker(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    tipster, _ = await find_or_create_contact(
        pagekit.KEYRING, d.bot, ContactIdentity("tipster-77", "Hoàng Thị Lan"), locale="vi"
    )
    tip = await submit(tipster, d.ea_kar, anonymous=True)
    an = await linked(d, d.an, settings, "tg-an")
    binh = await linked(d, d.binh, settings, "tg-binh")
    chief = await linked(d, d.supervisor, settings, "tg-chief")

    [ask] = await an.send(f"/reveal {ref(tip)}")
    assert ask.text.startswith(f"Why must the sender of tip {ref(tip)} be known?")
    [again] = await an.send("cần biết")  # too short to be a reason
    assert again.text.startswith("The reason must say why")
    assert not await RevealRequest.exists()
    [filed] = await an.send(REASON)
    request = await RevealRequest.get()
    assert filed.text.startswith(f"Request #{request.id} is filed")
    chief_contact = await chief.contact()
    assert await Delivery.filter(
        kind=DeliveryKind.NOTIFICATION, contact_id=chief_contact.id
    ).exists()

    # The asker cannot decide it, and an officer has nothing to decide.
    [nothing] = await binh.send("/reveal")
    assert nothing.text.startswith("No request waits for you.")
    [forged] = await an.press(f"rv:{request.id}:y")
    assert "did not work" in forged.text
    assert (await RevealRequest.get()).decided_at is None
    [early] = await an.press(f"rv:{request.id}:show")  # not approved yet: nothing shown
    assert "Hoàng Thị Lan" not in early.text

    [waiting] = await chief.send("/reveal")
    assert REASON in waiting.text and waiting.actions[:2] == [
        f"rv:{request.id}:y",
        f"rv:{request.id}:n",
    ]
    [approved] = await chief.press(f"rv:{request.id}:y")
    assert approved.text == f"Request #{request.id} approved; its requester is told."

    [mine] = await an.send("/reveal")
    assert mine.actions == [f"rv:{request.id}:show"]
    [shown] = await an.press(f"rv:{request.id}:show")
    assert "Hoàng Thị Lan (Telegram)" in shown.text
    [refused] = await binh.press(f"rv:{request.id}:show")  # another officer of the commune
    assert "Hoàng Thị Lan" not in refused.text

    actions = await AuditEvent.filter(object_type="tip").values_list("action", flat=True)
    assert {"tip.reveal_requested", "tip.reveal_approved", "tip.identity_read"} <= set(actions)
    for event in await AuditEvent.all():
        assert "Hoàng Thị Lan" not in str(event.data) and "tipster-77" not in str(event.data)


async def test_a_refused_decision_reads_in_the_officers_language(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    tipster, _ = await find_or_create_contact(
        pagekit.KEYRING, d.bot, ContactIdentity("tipster-78", "Hoàng Thị Lan"), locale="vi"
    )
    tip = await submit(tipster, d.ea_kar, anonymous=True)
    # The supervisor asks, so the refusal is the reveal service's own: not their own request.
    request = await reveal.request_reveal(d.supervisor, tip.id, REASON)
    chief = Person(d.bot, settings, "tg-chief-vi")  # keeps the default language, Vietnamese
    code, _ = await roster.issue_link_code(pagekit.KEYRING, d.supervisor)
    [linked_vi] = await chief.send(f"/link {code}")
    assert linked_vi.text.startswith("Đã liên kết: tại đây bạn thao tác với tư cách")

    [own] = await chief.press(f"rv:{request.id}:y")
    assert own.text == (
        "Xin lỗi, chưa thực hiện được: đề nghị của chính đồng chí phải do người thứ hai quyết định"
    )
    [early] = await chief.press(f"rv:{request.id}:show")
    assert early.text == "Xin lỗi, chưa thực hiện được: đề nghị này đang chờ người thứ hai duyệt"

    await Contact.filter(id=(await chief.contact()).id).update(locale="en")
    [own] = await chief.press(f"rv:{request.id}:y")
    assert own.text == "Sorry, that did not work: a second person must decide your own request"
    assert (await RevealRequest.get(id=request.id)).decided_at is None
