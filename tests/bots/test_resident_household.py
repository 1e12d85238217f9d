"""A shared household account in the bot: the representative links with the officer's code
and confirms each household; a tip from it names the household it is about (kept in the vault
when anonymous); an alert reaches it once, with "I have told the households", and each
household told is recorded and counted in the coverage."""

from __future__ import annotations

import re
from datetime import timedelta

from tortoise.context import TortoiseContext

from communepol.db.models import (
    ContactKind,
    Delivery,
    DeliveryKind,
    Household,
    HouseholdRelayConfirmation,
    Page,
    Tip,
)
from communepol.i18n import I18n
from communepol.services import alerts, coverage, householdgroups, households, outbox, vault
from communepol.services.alerts import AlertInput, Alerts
from communepol.services.units import add_hamlet
from communepol.settings import Settings
from tests import pagekit
from tests.bots.test_officer_tips import District, Person, district, linked

I18N = I18n.load(default_locale="vi")
NOT_YOURS = "That household is not one this account speaks for (any more)."


async def _homes(d: District) -> list[Household]:
    buon = await add_hamlet(d.ea_kar, "Ea Sinh", kind="Buôn")
    return [
        await households.add_household(d.an, buon.id, head_name=name, members_count=5)
        for name in ("Y Kông Êban", "H'Luyến Kbuôr", "Y Bhim Niê")
    ]


async def _representative(d: District, settings: Settings, homes: list[Household]) -> Person:
    """A representative who linked the group of ``homes`` and confirmed all of them, and
    follows the commune's page."""
    _, issued = await householdgroups.create_group(
        pagekit.KEYRING, d.an, d.ea_kar.id, "Nhóm 1 Buôn Ea Sinh", [h.id for h in homes]
    )
    rep = Person(d.bot, settings, "tg-rep")
    await rep.english()
    replies = await rep.send(f"/link {issued.code}")
    while replies[-1].actions and replies[-1].actions[0].startswith("hhc:"):
        replies = await rep.press(replies[-1].actions[0])  # Agreed
    follow = replies[-1].actions[0]
    assert follow == f"follow:{d.page.id}"
    await rep.press(follow)
    await rep.press(f"consent:{d.page.id}:yes")
    return rep


async def test_the_representative_links_and_confirms_household_by_household(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    homes = await _homes(d)
    _, issued = await householdgroups.create_group(
        pagekit.KEYRING, d.an, d.ea_kar.id, "Nhóm 1 Buôn Ea Sinh", [h.id for h in homes]
    )
    rep = Person(d.bot, settings, "tg-rep")
    await rep.english()

    [linked, first] = await rep.send(f"/link {issued.code}")
    assert linked.text.startswith(
        "This account now speaks for the group “Nhóm 1 Buôn Ea Sinh” of Xã Ea Kar: 3 households."
    )
    assert first.text == "Household 1 of 3: H'Luyến Kbuôr (5 people), Buôn Ea Sinh. Did it agree?"
    assert first.labels == ["Agreed", "Did not agree", "Ask later"]
    assert (await rep.contact()).kind is ContactKind.SHARED_HOUSEHOLD

    [second] = await rep.press(first.actions[0])  # agreed
    assert second.text.startswith("Household 2 of 3: Y Bhim Niê")
    [third] = await rep.press(second.actions[1])  # did not agree: taken out
    assert third.text.startswith("Household 2 of 2: Y Kông Êban")
    [later] = await rep.press(third.actions[2])  # ask later
    assert later.text.startswith("All right. Type /household when you have asked them")
    assert (await coverage.coverage(d.an, d.ea_kar.id)).commune.shared == 0  # not following yet

    [listing] = await rep.send("/household")
    assert listing.text.splitlines() == [
        "“Nhóm 1 Buôn Ea Sinh” (Xã Ea Kar): 1 of 2 households confirmed.",
        "1. ✓ H'Luyến Kbuôr (5 people), Buôn Ea Sinh",
        "2. … Y Kông Êban (5 people), Buôn Ea Sinh",
    ]
    [again] = await rep.press(listing.actions[0])  # answer for the others
    [done] = await rep.press(again.actions[0])
    assert done.text.startswith("Done: 2 households of “Nhóm 1 Buôn Ea Sinh” are reached")
    assert done.actions[0] == f"follow:{d.page.id}"
    await rep.press(done.actions[0])
    await rep.press(f"consent:{d.page.id}:yes")
    seen = await coverage.coverage(d.an, d.ea_kar.id)
    assert (seen.commune.shared, seen.commune.unreached) == (2, 1)
    assert [h.head_name for h in seen.unreached] == ["Y Bhim Niê"]
    [mine] = await rep.send("/mydata")
    assert "This account speaks for 2 households of the group “Nhóm 1 Buôn Ea Sinh”" in mine.text

    # A forged confirmation of another group's household changes nothing.
    stranger = Person(d.bot, settings, "tg-stranger")
    await stranger.english()
    [refused] = await stranger.press(f"hhc:{again.actions[0].split(':')[1]}:n")
    assert refused.text == NOT_YOURS
    assert (await coverage.coverage(d.an, d.ea_kar.id)).commune.shared == 2


async def test_the_representative_hands_over_and_takes_a_household_out(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    homes = await _homes(d)
    rep = await _representative(d, settings, homes)
    [listing] = await rep.send("/household")
    [choose] = await rep.press(listing.actions[0])  # remove a household
    assert choose.text == "Which household should no longer be reached through this account?"
    [sure] = await rep.press(choose.actions[0])
    assert sure.text.startswith("Take the household of H'Luyến Kbuôr out of")
    [out] = await rep.press(sure.actions[0])
    assert out.text.startswith("Done: the household of H'Luyến Kbuôr is out of")
    assert (await coverage.coverage(d.an, d.ea_kar.id)).commune.shared == 2

    [listing] = await rep.send("/household")
    [handed] = await rep.press(listing.actions[-1])  # hand over
    code = handed.text.split("on: ")[1].split(".")[0]
    heir = Person(d.bot, settings, "tg-heir")
    await heir.english()
    [linked, asked] = await heir.send(f"/link {code}")
    assert linked.text.startswith("This account now speaks for the group")
    assert asked.text.startswith("Household 1 of 2:")
    assert (await rep.contact()).kind is ContactKind.PERSON
    [nothing] = await rep.send("/household")
    assert nothing.text.startswith("This account does not speak for any household.")


async def test_a_tip_from_a_shared_account_names_its_household(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    homes = await _homes(d)
    rep = await _representative(d, settings, homes)
    await linked(d, d.an, settings, "tg-an")  # the officer who gets the cards

    async def tip(text: str, household: str, anonymity: str) -> tuple[Tip, list[str]]:
        await rep.send("/tip")
        await rep.press("tipc:theft")
        await rep.send(text)
        await rep.press("tipx:skip")
        [asked] = await rep.press("tipx:skip")
        assert asked.text == (
            "This account speaks for several households. Which household is this about?"
        )
        assert asked.labels[:3] == ["H'Luyến Kbuôr", "Y Bhim Niê", "Y Kông Êban"]
        assert asked.labels[3] == "The whole group"
        await rep.press(household)
        [summary] = await rep.press(anonymity)
        await rep.press("tipx:send")
        return await Tip.get(text=text), summary.text.splitlines()

    kong = homes[0]
    named, summary = await tip("Mất trộm con bò đêm qua.", f"tiph:{kong.id}", "tipx:named")
    assert "• About the household of Y Kông Êban" in summary
    assert named.household_id == kong.id  # type: ignore[attr-defined]
    card = await Delivery.filter(kind=DeliveryKind.NOTIFICATION, tip_id=named.id).first()
    assert card is not None and "Y Kông Êban, Buôn Ea Sinh" in card.payload["text"]

    hidden, summary = await tip("Có người lạ dò hỏi nhà bên.", f"tiph:{kong.id}", "tipx:anon")
    assert "• About the household of Y Kông Êban" in summary
    assert hidden.household_id is None  # type: ignore[attr-defined]
    assert await vault.household_of(pagekit.KEYRING, hidden.id) == kong.id
    card = await Delivery.filter(kind=DeliveryKind.NOTIFICATION, tip_id=hidden.id).first()
    assert card is not None and "Kông" not in card.payload["text"]
    assert hidden.alias is not None and hidden.alias in card.payload["text"]

    group, _ = await tip("Trộm gà cả xóm.", "tiph:all", "tipx:named")
    assert group.household_id is None  # type: ignore[attr-defined]
    assert await vault.household_of(pagekit.KEYRING, group.id) is None

    # A household that is not this account's is refused on Send and asked again.
    await rep.send("/tip")
    await rep.press("tipc:theft")
    await rep.send("Một tin khác.")
    await rep.press("tipx:skip")
    await rep.press("tipx:skip")
    await rep.press("tiph:999999")
    await rep.press("tipx:named")
    [again] = await rep.press("tipx:send")
    assert again.text.startswith("This account speaks for several households.")
    assert not await Tip.filter(text="Một tin khác.").exists()


async def test_an_alert_reaches_the_shared_account_once_and_each_household_told_is_recorded(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    homes = await _homes(d)
    rep = await _representative(d, settings, homes)
    shared = await rep.contact()
    page = await Page.get(id=d.page.id)
    await pagekit.followers(page, d.bot, 2, locale="en")
    alert = await alerts.create_alert(
        d.an,
        AlertInput(category="missing_person", headline="Tìm cháu Y Nhi", pages=(page.id,)),
    )
    await Alerts(settings, I18N).send(d.an, alert.id)
    rows = await Delivery.filter(kind=DeliveryKind.ALERT).order_by("id")
    assert len(rows) == 3 and sum(row.contact_id == shared.id for row in rows) == 1  # type: ignore[attr-defined]
    claimed = {
        c.contact_id: c
        for c in await outbox.claim(d.bot.id, owner="t", limit=500, lease=timedelta(seconds=30))
        if c.kind is DeliveryKind.ALERT
    }
    publication = claimed[shared.id].publication_id
    relay = [
        b for row in claimed[shared.id].payload["buttons"] for b in row if b["kind"] == "action"
    ]
    assert relay == [
        {"label": "I have told the households", "action": f"rly:{publication}", "kind": "action"}
    ]
    others = [c for contact_id, c in claimed.items() if contact_id != shared.id]
    assert all(
        b["kind"] != "action" for c in others for row in c.payload.get("buttons", []) for b in row
    )

    assert (
        claimed[shared.id]
        .payload["text"]
        .endswith(
            "This account speaks for several households: please tell each of them. When you have, "
            "press “I have told the households” or reply “told”."
        )
    )
    [typed] = await rep.send("told")  # where a platform has no buttons
    assert typed.text.startswith("Told so far: 0 of 3.")
    [asked] = await rep.press(f"rly:{publication}")
    assert asked.text.startswith("Told so far: 0 of 3.")
    assert asked.labels == ["H'Luyến Kbuôr", "Y Bhim Niê", "Y Kông Êban", "All of them"]
    [one] = await rep.press(asked.actions[0])
    assert one.text.startswith("Told so far: 1 of 3.")
    assert (await coverage.coverage(d.an, d.ea_kar.id)).commune.confirmed == 1
    [done] = await rep.press(one.actions[-1])  # all of them
    assert done.text == "Thank you: all 3 households are recorded as told."
    told = await HouseholdRelayConfirmation.filter(publication_id=publication)
    assert sorted(r.household_id for r in told) == sorted(h.id for h in homes)  # type: ignore[attr-defined]
    seen = await coverage.coverage(d.an, d.ea_kar.id)
    assert seen.commune.confirmed == 3
    assert [(a.publication_id, a.headline, a.confirmed) for a in seen.alerts] == [
        (publication, "Tìm cháu Y Nhi", 3)
    ]
    an = await linked(d, d.an, settings, "tg-an")
    [shown] = await an.send("/coverage")
    assert "Households confirmed told, by shared accounts, per alert:" in shown.text
    assert re.search(r"\n• Tìm cháu Y Nhi \(.+\): 3 of 3(\n|$)", shown.text)

    # Someone the alert did not go to, or a publication that is not theirs: nothing recorded.
    stranger = Person(d.bot, settings, "tg-stranger")
    await stranger.english()
    [refused] = await stranger.press(f"rly:{publication}")
    assert refused.text == NOT_YOURS
    [nothing] = await stranger.send("đã báo")
    assert nothing.text == "No message is waiting for you to tell your households."
    [refused] = await rep.press(f"rly:{publication + 1000}")
    assert refused.text == NOT_YOURS
    assert await HouseholdRelayConfirmation.filter(publication_id=publication).count() == 3
