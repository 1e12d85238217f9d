"""``/group`` and ``/groups`` in the officer's bot: a group of households is made from the
phone and its code links the representative; a new code hands it over; an officer of another
commune finds nothing, whatever they press."""

from __future__ import annotations

import re

from tortoise.context import TortoiseContext

from communepol.db.models import HouseholdGroup, HouseholdGroupMember
from communepol.services import households
from communepol.services.units import add_hamlet
from communepol.settings import Settings
from tests import pagekit
from tests.bots.test_officer_tips import NOT_FOUND, Person, district, linked

CODE = re.compile(r"this code: ([A-Z0-9]{4}-[A-Z0-9]{4})\.")


async def test_an_officer_makes_a_group_and_its_code_links_the_representative(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    buon = await add_hamlet(d.ea_kar, "Ea Sinh", kind="Buôn")
    for name in ("Y Kông Êban", "H'Luyến Kbuôr", "Y Bhim Niê", "H'Xíu Ayun"):
        await households.add_household(d.an, buon.id, head_name=name, members_count=4)
    an = await linked(d, d.an, settings, "tg-an")

    [hamlets] = await an.send("/group")
    assert hamlets.text == "A new group of households sharing one account. Which hamlet?"
    assert hamlets.labels == ["Buôn Ea Sinh (4)", "Cancel"]
    [listing] = await an.press(hamlets.actions[0])
    assert listing.text.splitlines()[1:] == [
        "1. H'Luyến Kbuôr",
        "2. H'Xíu Ayun",
        "3. Y Bhim Niê",
        "4. Y Kông Êban",
    ]
    assert listing.actions == []  # a typed "1" is household 1, not a button
    [wrong] = await an.send("1 9")
    assert wrong.text == "Type numbers from the list, for example 1 3 5."
    [named] = await an.send("1, 3 4")
    assert named.text.startswith("3 households. What is the group called?")
    assert named.labels[0] == "Group of Buôn Ea Sinh"
    [made] = await an.send("Nhóm 1 Buôn Ea Sinh")
    found = CODE.search(made.text)
    assert found and made.text.startswith("Group “Nhóm 1 Buôn Ea Sinh”: give its representative")
    group = await HouseholdGroup.get(name="Nhóm 1 Buôn Ea Sinh")
    members = await HouseholdGroupMember.filter(group_id=group.id).prefetch_related("household")
    assert sorted(m.household.head_name for m in members) == [
        "H'Luyến Kbuôr",
        "Y Bhim Niê",
        "Y Kông Êban",
    ]

    rep = Person(d.bot, settings, "tg-rep")
    await rep.english()
    [welcome, _] = await rep.send(f"/link {found.group(1)}")
    assert welcome.text.startswith("This account now speaks for the group “Nhóm 1 Buôn Ea Sinh”")

    # The group list, and a new code for a handover.
    [again] = await an.send("/group")
    assert again.labels == ["Buôn Ea Sinh (1)", "Cancel"]  # the one left out
    await an.press(again.actions[0])
    [single] = await an.send("1")  # a group of one household, by its number alone
    assert single.text.startswith("1 household. What is the group called?")  # singular
    [cancelled] = await an.send("2")  # the second button: Cancel
    assert cancelled.text == "Cancelled: no group was made."
    [shown] = await an.send("/groups")
    assert shown.text == ("“Nhóm 1 Buôn Ea Sinh”: 0 of 3 households agreed · representative linked")
    [handover] = await an.press(shown.actions[0])
    fresh = CODE.search(handover.text)
    assert fresh and fresh.group(1) != found.group(1)

    # An officer of another commune: nothing, and a forged button finds nothing either.
    stranger = await pagekit.staff(d.ea_pal, name="Người xã khác")
    other = await linked(d, stranger, settings, "tg-other")
    [none] = await other.send("/groups")
    assert none.text == "No household group yet. Type /group to make one."
    [refused] = await other.press(f"ogc:{group.id}")
    assert refused.text == NOT_FOUND
    [refused] = await other.send("/groups ea kar")
    assert refused.text == NOT_FOUND


async def test_an_officer_registers_households_from_the_phone(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    await add_hamlet(d.ea_kar, "Ea Sinh", kind="Buôn")
    await add_hamlet(d.ea_kar, "Thôn 2")
    an = await linked(d, d.an, settings, "tg-an")
    [hamlets] = await an.send("/themho")
    assert hamlets.labels == ["Buôn Ea Sinh", "Thôn 2", "Cancel"]
    [asked] = await an.press(hamlets.actions[0])
    assert asked.text.startswith("Buôn Ea Sinh: type one household per message")
    [first] = await an.send("Y Kông Êban, 6, Nhà 3, 0912 345 678")
    assert first.text.startswith("Registered: Y Kông Êban, 6 people, Buôn Ea Sinh.")
    [second] = await an.send("H'Luyến Kbuôr, 4")
    assert second.text.startswith("Registered: H'Luyến Kbuôr, 4 people")
    [twice] = await an.send("y kông êban, 5, nhà 3")
    assert twice.text == "Not registered: this household is already registered"
    [bad] = await an.send("Y Bhim Niê, nhiều")
    assert bad.text.startswith("Type it as: head of household, number of people")
    [too_many] = await an.send("Y Bhim Niê, 80")
    assert too_many.text == "Not registered: members must be a whole number from 1 to 50"
    [done] = await an.send("/done")
    assert done.text == "Done: 2 households registered."
    stored = await households.list_households(d.an, d.ea_kar.id)
    assert [(h.head_name, h.members_count, h.address, h.phone) for h in stored] == [
        ("H'Luyến Kbuôr", 4, "", None),
        ("Y Kông Êban", 6, "Nhà 3", "+84912345678"),
    ]
    # Another commune's officer cannot add to this commune's hamlets, even with a forged button.
    stranger = await pagekit.staff(d.ea_pal, name="Người xã khác")
    other = await linked(d, stranger, settings, "tg-other")
    [refused] = await other.send("/themho ea kar")
    assert refused.text == NOT_FOUND
    await add_hamlet(d.ea_pal, "Thôn 1")
    await other.send("/themho")  # their own commune's hamlets; then a button of Ea Kar's
    hamlet = stored[0].hamlet
    [refused] = await other.press(f"oah:{hamlet.id}")
    assert refused.text == NOT_FOUND
    assert len(await households.list_households(d.an, d.ea_kar.id)) == 2


async def test_an_id_out_of_range_is_not_found_not_a_database_error(
    db: TortoiseContext, settings: Settings
) -> None:
    d = await district()
    an = await linked(d, d.an, settings, "tg-an")
    # PostgreSQL refuses an int4 out of range with an error: such an id never reaches it.
    for typed in ("/viewtip 9999999999", "/xemtin 0"):
        [answer] = await an.send(typed)
        assert answer.text == NOT_FOUND, typed
    [answer] = await an.press("ogc:9999999999")
    assert answer.text == "Cancelled: no group was made."
    resident = Person(d.bot, settings, "tg-resident")
    await resident.english()
    [answer] = await resident.press("hhc:9999999999:y")
    assert answer.text == "That household is not one this account speaks for (any more)."
    [answer] = await resident.press("rly:9999999999")
    assert answer.text == "That household is not one this account speaks for (any more)."
