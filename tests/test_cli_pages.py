"""`communepol pages …`, `posts …` and `channels quota` as staff use them: pages are created
from a unit (slug and title made from its name), listed with followers and channels, shown
with their follow links, carried by channel accounts (a Zalo OA by exactly one page) and
changed; a page's posts are listed with their schedule and delivery counts, a publication's
figures are shown and a publication can be stopped. Bad input ends with one line and writes
nothing; times are shown in Asia/Ho_Chi_Minh."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from communepol.cli import main
from communepol.crypto import Keyring
from communepol.db.models import (
    AuditEvent,
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Follow,
    FollowStatus,
    Page,
    PageChannel,
    Post,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
    Unit,
    UnitLevel,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from communepol.text import fold
from tests.conftest import TEST_SECRET_KEY
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]  # the fixture, imported for the tests below

BASE = "https://cand.example.vn"
# 2025-03-01 00:30 UTC is 07:30 in Asia/Ho_Chi_Minh.
MOMENT = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
LOCAL = "2025-03-01 07:30"


@dataclass(frozen=True)
class Accounts:
    webchat: int
    telegram: int
    oa: int


async def _unit(
    code: str | None, level: UnitLevel, kind: str, rest: str, parent: Unit | None = None
) -> Unit:
    return await Unit.create(
        code=code,
        level=level,
        kind=kind,
        name=f"{kind} {rest}",
        name_folded=fold(rest),
        parent=parent,
        path=f"{parent.path}{parent.id}/" if parent else "/",
    )


async def _seed() -> Accounts:
    province = await _unit("66", UnitLevel.PROVINCE, "Tỉnh", "Đắk Lắk")
    commune = await _unit("24373", UnitLevel.COMMUNE, "Xã", "Ea Kar", province)
    await _unit("24400", UnitLevel.COMMUNE, "Xã", "Cư Huê", province)
    await _unit(None, UnitLevel.HAMLET, "Buôn", "Ea Sinh", commune)
    await _unit("72", UnitLevel.PROVINCE, "Tỉnh", "Tây Ninh")
    webchat = await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="Web chat")
    telegram = await ChannelAccount.create(
        kind=ChannelKind.TELEGRAM, name="Bot Đắk Lắk", public_handle="@cadaklak_bot"
    )
    oa = await ChannelAccount.create(
        kind=ChannelKind.ZALO_OA, name="OA Công an Ea Kar", public_handle="1234567890"
    )
    return Accounts(webchat.id, telegram.id, oa.id)


@pytest.fixture
def env(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    """Đắk Lắk with two communes and a hamlet, Tây Ninh, and three channel accounts."""
    monkeypatch.setenv("COMMUNEPOL_PUBLIC_BASE_URL", BASE)
    accounts: Accounts = query(cli_env, _seed)
    return accounts


def output(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.out, captured.err


def error_line(err: str) -> str:
    assert err.startswith("communepol: error: ") and err.count("\n") == 1, err
    return err.removeprefix("communepol: error: ").rstrip("\n")


def refused(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a command that printed nothing else."""
    out, err = output(capsys)
    assert out == ""
    return error_line(err)


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def pages(url: str) -> list[Page]:
    return list(query(url, lambda: Page.all().order_by("id")))


def carried(url: str, account_id: int) -> list[str]:
    async def go() -> list[str]:
        rows = await PageChannel.filter(channel_account_id=account_id).values_list(
            "page__slug", flat=True
        )
        return sorted(str(slug) for slug in rows)

    return list(query(url, go))


def audit_actions(url: str) -> list[str]:
    return [
        str(a)
        for a in query(
            url, lambda: AuditEvent.all().order_by("id").values_list("action", flat=True)
        )
    ]


# -- help and malformed arguments ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["pages"],
        ["pages", "add"],
        ["pages", "list"],
        ["pages", "show"],
        ["pages", "channel"],
        ["pages", "channel", "add"],
        ["pages", "channel", "remove"],
        ["pages", "set"],
        ["posts"],
        ["posts", "list"],
        ["posts", "stats"],
        ["posts", "stop"],
        ["channels", "quota"],
    ],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: communepol" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["pages", "channel", "add", "xa-ea-kar", "0"],
        ["pages", "channel", "remove", "xa-ea-kar", "one"],
        ["pages", "set", "xa-ea-kar", "--active", "maybe"],
        ["pages", "set", "xa-ea-kar", "--approval", "health", "--no-approval"],
        ["posts", "list", "xa-ea-kar", "--limit", "0"],
        ["posts", "stats", "x"],
        ["posts", "stats", "99999999999"],
        ["posts", "stop", "-1"],
        ["channels", "quota", "1", "lots"],
        ["channels", "quota", "1", "-5"],
        ["channels", "quota", "1", "2.5"],
    ],
)
def test_malformed_arguments_are_bad_input(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


# -- pages add -----------------------------------------------------------------------------------


def test_add_a_page_from_a_unit_name(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "ea kar") == 0
    out, err = output(capsys)
    assert err == ""
    assert out == (
        'added page xa-ea-kar "Công an xã Ea Kar" for Xã Ea Kar (24373)\n'
        f"public page: {BASE}/p/xa-ea-kar\n"
    )
    (page,) = pages(cli_env)
    assert (page.slug, page.title, page.default_locale, page.active) == (
        "xa-ea-kar",
        "Công an xã Ea Kar",
        "vi",
        True,
    )
    assert audit_actions(cli_env) == ["page.created"]


def test_add_again_takes_the_unit_code_then_a_number(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        assert run("pages", "add", "24373") == 0
    out, _ = output(capsys)
    assert [line.split()[2] for line in out.splitlines() if line.startswith("added")] == [
        "xa-ea-kar",
        "xa-ea-kar-24373",
        "xa-ea-kar-2",
    ]


def test_add_with_every_option(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["pages", "add", "66", "--slug", "ca-dak-lak", "--title", "Công an tỉnh"]
    argv += ["--approval", "missing_person", "--approval", "crime-warning", "--locale", "en"]
    argv += ["--description", "Tin từ Công an tỉnh."]
    assert run(*argv) == 0
    out, _ = output(capsys)
    assert out.splitlines()[0] == 'added page ca-dak-lak "Công an tỉnh" for Tỉnh Đắk Lắk (66)'
    (page,) = pages(cli_env)
    assert page.approval_categories == ["crime_warning", "missing_person"]
    assert (page.default_locale, page.description) == ("en", "Tin từ Công an tỉnh.")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--slug", "Ea Kar"], 2, "the slug 'Ea Kar' is not valid: 3 to 100 characters of a-z"),
        (["--slug", "ea"], 2, "the slug 'ea' is not valid"),
        (["--approval", "gossip"], 2, "unknown post category 'gossip'; one of procedure, "),
        (["--locale", "fr"], 2, "unsupported language 'fr'; one of vi, en"),
        (["--title", " "], 2, "a page needs a title"),
    ],
)
def test_add_with_bad_input_writes_nothing(
    env: Accounts,
    cli_env: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert run("pages", "add", "ea kar", *argv) == code
    assert refused(capsys).startswith(message)
    assert pages(cli_env) == []
    assert audit_actions(cli_env) == []


def test_add_for_an_unknown_unit_or_a_hamlet(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "atlantis") == 2
    assert refused(capsys) == "no unit matches 'atlantis'"
    assert run("pages", "add", "ea sinh") == 2
    assert refused(capsys).startswith("Buôn Ea Sinh is a hamlet")
    assert pages(cli_env) == []


def test_add_with_a_taken_slug_is_refused(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "ea kar") == 0
    output(capsys)
    assert run("pages", "add", "cu hue", "--slug", "xa-ea-kar") == 1
    assert refused(capsys) == "a page with slug 'xa-ea-kar' already exists"
    assert len(pages(cli_env)) == 1


# -- pages list and show -------------------------------------------------------------------------


def _follow(slug: str, account_id: int, who: str, status: FollowStatus) -> object:
    async def go() -> None:
        account = await ChannelAccount.get(id=account_id)
        contact, _ = await find_or_create_contact(
            Keyring(TEST_SECRET_KEY), account, ContactIdentity(who)
        )
        await Follow.create(page=await Page.get(slug=slug), contact=contact, status=status)

    return go


def test_list_when_there_are_no_pages(env: Accounts, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("pages", "list") == 0
    assert output(capsys) == ("no pages (add one with `communepol pages add`)\n", "")


def test_list_pages(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["ea kar"], ["cu hue"], ["66"], ["tay ninh"]):
        assert run("pages", "add", *argv) == 0
    for account in (env.telegram, env.oa):
        assert run("pages", "channel", "add", "xa-ea-kar", str(account)) == 0
    assert run("pages", "set", "tinh-tay-ninh", "--active", "no") == 0
    for n in range(2):
        query(cli_env, _follow("xa-ea-kar", env.webchat, f"r{n}", FollowStatus.ACTIVE))
    query(cli_env, _follow("xa-ea-kar", env.webchat, "gone", FollowStatus.STOPPED))
    output(capsys)

    assert run("pages", "list") == 0
    out, err = output(capsys)
    assert err == ""
    lines = out.splitlines()
    assert cells(lines[0]) == ["SLUG", "UNIT", "FOLLOWERS", "CHANNELS", "ACTIVE", "TITLE"]
    assert [cells(line) for line in lines[1:]] == [
        ["tinh-dak-lak", "Tỉnh Đắk Lắk (66)", "0", "-", "yes", "Công an tỉnh Đắk Lắk"],
        ["tinh-tay-ninh", "Tỉnh Tây Ninh (72)", "0", "-", "no", "Công an tỉnh Tây Ninh"],
        ["xa-cu-hue", "Xã Cư Huê (24400)", "0", "-", "yes", "Công an xã Cư Huê"],
        ["xa-ea-kar", "Xã Ea Kar (24373)", "2", "telegram,zalo-oa", "yes", "Công an xã Ea Kar"],
    ]

    assert run("pages", "list", "--within", "dak lak") == 0
    out, _ = output(capsys)
    assert [line.split()[0] for line in out.splitlines()[1:]] == [
        "tinh-dak-lak",
        "xa-cu-hue",
        "xa-ea-kar",
    ]
    assert run("pages", "list", "--within", "ea sinh") == 0
    assert output(capsys) == ("no pages in Buôn Ea Sinh\n", "")
    assert run("pages", "list", "--within", "atlantis") == 2
    assert refused(capsys) == "no unit matches 'atlantis'"


def test_show_a_page(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["pages", "add", "ea kar", "--approval", "missing_person", "--approval", "health"]
    assert run(*argv, "--description", "Trang thông tin\ncủa xã.") == 0
    for account in (env.oa, env.webchat, env.telegram):
        assert run("pages", "channel", "add", "xa-ea-kar", str(account)) == 0
    query(cli_env, _follow("xa-ea-kar", env.webchat, "r", FollowStatus.ACTIVE))

    async def created_at_moment() -> int:
        return await Page.filter(slug="xa-ea-kar").update(created_at=MOMENT)

    query(cli_env, created_at_moment)
    page_id = pages(cli_env)[0].id
    output(capsys)

    assert run("pages", "show", "xa-ea-kar") == 0
    out, err = output(capsys)
    assert err == ""
    assert out.splitlines() == [
        "slug         xa-ea-kar",
        "title        Công an xã Ea Kar",
        "unit         Xã Ea Kar (24373)",
        "language     vi",
        "approval     missing_person, health",
        "active       yes",
        "followers    1",
        f"created      {LOCAL} Asia/Ho_Chi_Minh",
        "description  Trang thông tin của xã.",
        "channels:",
        f"  {env.webchat}  webchat   active  Web chat",
        f"  {env.telegram}  telegram  active  Bot Đắk Lắk",
        f"  {env.oa}  zalo-oa   active  OA Công an Ea Kar",
        "follow links:",
        "  Zalo      https://zalo.me/1234567890",
        f"  Telegram  https://t.me/cadaklak_bot?start=p{page_id}",
        f"  Web page  {BASE}/p/xa-ea-kar?follow=1",
    ]


def test_show_a_page_without_channels_then_inactive(
    env: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "ea kar") == 0
    output(capsys)
    assert run("pages", "show", "xa-ea-kar") == 0
    lines = output(capsys)[0].splitlines()
    assert lines[-3:] == [
        "channels: none (add one: communepol pages channel add xa-ea-kar ACCOUNT_ID)",
        "follow links:",
        f"  Web page  {BASE}/p/xa-ea-kar?follow=1",
    ]
    assert run("pages", "set", "xa-ea-kar", "--active", "no") == 0
    output(capsys)
    assert run("pages", "show", "xa-ea-kar") == 0
    lines = output(capsys)[0].splitlines()
    assert "active       no" in lines
    assert lines[-1] == "follow links: none (the page is inactive)"


def test_show_an_unknown_page(env: Accounts, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("pages", "show", "nope") == 2
    assert refused(capsys) == "no page with slug 'nope'"


# -- pages channel -------------------------------------------------------------------------------


def test_channel_add_and_remove(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for unit in ("ea kar", "66"):
        assert run("pages", "add", unit) == 0
    output(capsys)
    t = env.telegram
    assert run("pages", "channel", "add", "xa-ea-kar", str(t)) == 0
    assert run("pages", "channel", "add", "xa-ea-kar", str(t)) == 0
    assert run("pages", "channel", "add", "tinh-dak-lak", str(t)) == 0
    assert output(capsys) == (
        f"telegram account {t} now carries page xa-ea-kar\n"
        f"telegram account {t} already carries page xa-ea-kar\n"
        f"telegram account {t} now carries page tinh-dak-lak\n",
        "",
    )
    assert carried(cli_env, t) == ["tinh-dak-lak", "xa-ea-kar"]
    assert run("pages", "channel", "remove", "xa-ea-kar", str(t)) == 0
    assert run("pages", "channel", "remove", "xa-ea-kar", str(t)) == 0
    assert output(capsys) == (
        f"telegram account {t} no longer carries page xa-ea-kar\n"
        f"telegram account {t} does not carry page xa-ea-kar\n",
        "",
    )
    assert carried(cli_env, t) == ["tinh-dak-lak"]
    assert audit_actions(cli_env).count("page.channel_attached") == 2
    assert audit_actions(cli_env).count("page.channel_detached") == 1


def test_a_zalo_oa_carries_one_page(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for unit in ("ea kar", "66"):
        assert run("pages", "add", unit) == 0
    assert run("pages", "channel", "add", "xa-ea-kar", str(env.oa)) == 0
    output(capsys)
    assert run("pages", "channel", "add", "tinh-dak-lak", str(env.oa)) == 1
    assert refused(capsys) == (
        f"zalo-oa account {env.oa} already carries page 'xa-ea-kar': a Zalo OA is exactly one "
        "page (detach that page first)"
    )
    assert carried(cli_env, env.oa) == ["xa-ea-kar"]


def test_channel_with_an_unknown_page_or_account(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "ea kar") == 0
    output(capsys)
    assert run("pages", "channel", "add", "nope", str(env.telegram)) == 2
    assert refused(capsys) == "no page with slug 'nope'"
    assert run("pages", "channel", "remove", "xa-ea-kar", "4242") == 2
    assert refused(capsys) == "no channel account 4242"
    assert carried(cli_env, env.telegram) == []


# -- pages set -----------------------------------------------------------------------------------


def test_set(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("pages", "add", "ea kar", "--approval", "health") == 0
    output(capsys)
    argv = ["pages", "set", "xa-ea-kar", "--title", "Công an xã Ea Kar, Đắk Lắk"]
    assert run(*argv, "--approval", "fraud_warning", "--active", "no") == 0
    assert output(capsys) == (
        "page xa-ea-kar updated: title, approval categories, active: no\n",
        "",
    )
    (page,) = pages(cli_env)
    assert page.title == "Công an xã Ea Kar, Đắk Lắk"
    assert page.approval_categories == ["fraud_warning"] and page.active is False
    assert run("pages", "set", "xa-ea-kar", "--no-approval", "--active", "no") == 0
    assert output(capsys) == ("page xa-ea-kar updated: approval categories\n", "")
    assert pages(cli_env)[0].approval_categories == []
    assert run("pages", "set", "xa-ea-kar", "--active", "no", "--no-approval") == 0
    assert output(capsys) == ("page xa-ea-kar is unchanged\n", "")
    assert audit_actions(cli_env) == ["page.created", "page.updated", "page.updated"]


def test_set_needs_something_to_change(
    env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "set", "xa-ea-kar") == 2
    assert refused(capsys) == (
        "nothing to change: give --title, --description, --approval, --no-approval or --active"
    )
    assert run("pages", "set", "nope", "--title", "X") == 2
    assert refused(capsys) == "no page with slug 'nope'"
    assert run("pages", "add", "ea kar") == 0
    output(capsys)
    assert run("pages", "set", "xa-ea-kar", "--title", "Mới", "--approval", "gossip") == 2
    assert refused(capsys).startswith("unknown post category 'gossip'")
    assert pages(cli_env)[0].title == "Công an xã Ea Kar"


# -- channels quota ------------------------------------------------------------------------------


def quota_of(url: str, account_id: int) -> int | None:
    account: ChannelAccount = query(url, lambda: ChannelAccount.get(id=account_id))
    return account.monthly_promotion_quota


def test_quota(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    oa = env.oa
    assert run("channels", "quota", str(oa), "2000") == 0
    assert run("channels", "quota", str(oa), "2000") == 0
    assert quota_of(cli_env, oa) == 2000
    assert run("channels", "quota", str(oa), "none") == 0
    assert run("channels", "quota", str(oa), "NONE") == 0
    assert quota_of(cli_env, oa) is None
    assert run("channels", "quota", str(oa), "0") == 0
    assert quota_of(cli_env, oa) == 0
    assert output(capsys) == (
        f"zalo-oa account {oa} is now limited to 2000 promotion messages a month\n"
        f"zalo-oa account {oa} is already limited to 2000 promotion messages a month\n"
        f"zalo-oa account {oa} now sends promotion messages without a monthly limit\n"
        f"zalo-oa account {oa} already sends promotion messages without a monthly limit\n"
        f"zalo-oa account {oa} is now limited to 0 promotion messages a month\n",
        "",
    )
    assert audit_actions(cli_env) == ["channel.quota_set"] * 3


def test_quota_refused(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("channels", "quota", str(env.telegram), "100") == 2
    assert refused(capsys) == (
        f"telegram account {env.telegram} has no promotion quota: only a zalo-oa account has one"
    )
    assert run("channels", "quota", str(env.oa), "1000001") == 2
    assert refused(capsys) == (
        "a promotion quota is a whole number from 0 to 1,000,000, or none (not limited)"
    )
    assert run("channels", "quota", "4242", "100") == 2
    assert refused(capsys) == "no channel account 4242"
    assert quota_of(cli_env, env.oa) is None and quota_of(cli_env, env.telegram) is None


# -- posts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posts:
    published: int
    recurring: int
    draft: int
    done: int  # publication ids
    sending: int


async def _posts(webchat_id: int) -> Posts:
    page = await Page.get(slug="xa-ea-kar")
    account = await ChannelAccount.get(id=webchat_id)
    keyring = Keyring(TEST_SECRET_KEY)
    published = await Post.create(
        page=page,
        category=PostCategory.FRAUD_WARNING,
        status=PostStatus.PUBLISHED,
        schedule_kind=ScheduleKind.ONCE,
        published_at=MOMENT,
    )
    await PostTranslation.create(
        post=published, locale="vi", title="Cảnh báo   lừa đảo qua điện thoại", body="…"
    )
    recurring = await Post.create(
        page=page,
        category=PostCategory.ANNOUNCEMENT,
        status=PostStatus.SCHEDULED,
        schedule_kind=ScheduleKind.CRON,
        cron_expression="0 7 * * 1",
        next_run_at=MOMENT + timedelta(days=2),
    )
    await PostTranslation.create(post=recurring, locale="vi", title="Lịch tiếp dân", body="…")
    draft = await Post.create(page=page, category=PostCategory.HEALTH)
    done = await Publication.create(
        post=published,
        occurrence_at=MOMENT - timedelta(days=1),
        status=PublicationStatus.DONE,
        recipients=1,
    )
    sending = await Publication.create(
        post=published, occurrence_at=MOMENT, status=PublicationStatus.SENDING, recipients=8
    )
    plan = [
        (done, DeliveryStatus.SENT, True),
        (sending, DeliveryStatus.PENDING, False),
        (sending, DeliveryStatus.PENDING, False),
        (sending, DeliveryStatus.SENDING, False),
        (sending, DeliveryStatus.SENT, True),
        (sending, DeliveryStatus.SENT, False),
        (sending, DeliveryStatus.DEAD, False),
        (sending, DeliveryStatus.UNREACHABLE, False),
        (sending, DeliveryStatus.QUOTA_BLOCKED, False),
    ]
    for n, (publication, status, read) in enumerate(plan):
        contact, _ = await find_or_create_contact(keyring, account, ContactIdentity(f"c{n}"))
        await Delivery.create(
            channel_account=account,
            contact=contact,
            kind=DeliveryKind.BROADCAST,
            dedup_key=f"pub:{publication.id}:{n}",
            payload={},
            publication=publication,
            status=status,
            not_before=MOMENT,
            read_at=MOMENT if read else None,
        )
    # Oldest first, as they were written: the list shows the newest first.
    for offset, post in enumerate((published, recurring, draft)):
        await Post.filter(id=post.id).update(created_at=MOMENT + timedelta(minutes=offset))
    return Posts(published.id, recurring.id, draft.id, done.id, sending.id)


@pytest.fixture
def posts(env: Accounts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> Posts:
    assert run("pages", "add", "ea kar") == 0
    capsys.readouterr()
    seeded: Posts = query(cli_env, lambda: _posts(env.webchat))
    return seeded


def test_posts_list(posts: Posts, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("posts", "list", "xa-ea-kar") == 0
    out, err = output(capsys)
    assert err == ""
    lines = out.splitlines()
    assert cells(lines[0]) == [
        "ID",
        "CATEGORY",
        "STATUS",
        "SCHEDULE",
        "NEXT (Asia/Ho_Chi_Minh)",
        "PUBLISHED (Asia/Ho_Chi_Minh)",
        "PUBLICATION",
        "RECIPIENTS",
        "QUEUED",
        "SENT",
        "NOT SENT",
        "TITLE",
    ]
    rows = {int(cells(line)[0]): cells(line) for line in lines[1:]}
    assert list(rows) == [posts.draft, posts.recurring, posts.published]
    assert rows[posts.published][1:] == [
        "fraud_warning",
        "published",
        "once",
        "-",
        LOCAL,
        f"{posts.sending} sending",
        "8",
        "3",
        "2",
        "3",
        "Cảnh báo lừa đảo qua điện thoại",
    ]
    assert rows[posts.recurring][1:] == [
        "announcement",
        "scheduled",
        "cron 0 7 * * 1",
        "2025-03-03 07:30",
        "-",
        "-",
        "-",
        "-",
        "-",
        "-",
        "Lịch tiếp dân",
    ]
    assert rows[posts.draft][1:4] == ["health", "draft", "now"]
    assert rows[posts.draft][-1] == "-"
    assert "(the newest" not in out

    assert run("posts", "list", "xa-ea-kar", "--limit", "2") == 0
    out, _ = output(capsys)
    assert [int(cells(line)[0]) for line in out.splitlines()[1:-1]] == [
        posts.draft,
        posts.recurring,
    ]
    assert out.splitlines()[-1] == "(the newest 2 only; see more with --limit)"


def test_posts_list_of_a_page_without_posts(
    env: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("pages", "add", "66") == 0
    output(capsys)
    assert run("posts", "list", "tinh-dak-lak") == 0
    assert output(capsys) == ("no posts on page tinh-dak-lak\n", "")
    assert run("posts", "list", "nope") == 2
    assert refused(capsys) == "no page with slug 'nope'"


def test_posts_stats(posts: Posts, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("posts", "stats", str(posts.published)) == 0
    out, err = output(capsys)
    assert err == ""
    lines = out.splitlines()
    assert lines[0] == f"post {posts.published} on page xa-ea-kar: fraud_warning, published"
    assert cells(lines[1]) == [
        "PUBLICATION",
        "STATUS",
        "OCCURRENCE (Asia/Ho_Chi_Minh)",
        "RECIPIENTS",
        "QUEUED",
        "SENT",
        "DEAD",
        "UNREACHABLE",
        "QUOTA_BLOCKED",
        "CANCELLED",
        "READ",
    ]
    assert [cells(line) for line in lines[2:]] == [
        [str(posts.sending), "sending", LOCAL, "8", "3", "2", "1", "1", "1", "0", "1"],
        [str(posts.done), "done", "2025-02-28 07:30", "1", "0", "1", "0", "0", "0", "0", "1"],
    ]
    assert run("posts", "stats", str(posts.draft)) == 0
    assert output(capsys) == (
        f"post {posts.draft} on page xa-ea-kar: health, draft\nnot published yet\n",
        "",
    )
    assert run("posts", "stats", "424242") == 2
    assert refused(capsys) == "no post 424242"


def test_posts_stop(posts: Posts, cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("posts", "stop", str(posts.sending)) == 0
    assert output(capsys) == (
        f"publication {posts.sending} stopped (3 unsent deliveries cancelled)\n",
        "",
    )
    publication: Publication = query(cli_env, lambda: Publication.get(id=posts.sending))
    assert publication.status is PublicationStatus.STOPPED
    assert run("posts", "stats", str(posts.published)) == 0
    row = cells(output(capsys)[0].splitlines()[2])
    assert row[1] == "stopped" and row[4:10] == ["0", "2", "1", "1", "1", "3"]
    assert audit_actions(cli_env)[-1] == "publication.stopped"

    assert run("posts", "stop", str(posts.sending)) == 1
    assert refused(capsys) == f"publication {posts.sending} is already stopped"
    assert run("posts", "stop", str(posts.done)) == 1
    assert refused(capsys) == f"publication {posts.done} is done: nothing is left to send"
    assert run("posts", "stop", "424242") == 2
    assert refused(capsys) == "no publication 424242"
