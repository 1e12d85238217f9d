"""`communepol channels …` as an operator uses it: credentials come from the environment (or
piped JSON) and are stored sealed, never printed; bad input writes nothing; `webhook set` and
`webhook remove` speak to the platform (a fake Telegram here) with the stored secrets."""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from communepol.cli import main
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    Page,
    PageChannel,
    ReceiveMode,
    Unit,
    UnitLevel,
)
from communepol.services.channels import open_secrets
from tests.conftest import TEST_SECRET_KEY
from tests.fakes.base import Fault
from tests.fakes.telegram import FakeTelegram
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]  # the fixture, imported for the tests below

BASE = "https://cand.example.vn"
TELEGRAM_TOKEN = "7012345678:AAHsecretTelegramToken_abc-XYZ0123456789"
ZALO_BOT_TOKEN = "4471852369:zaloBotSecretPart-0123456789"
ZALO_OA = {
    "COMMUNEPOL_NEW_ZALO_APP_ID": "1912345678901234567",
    "COMMUNEPOL_NEW_ZALO_APP_SECRET": "appSecretQwErTy123456",
    "COMMUNEPOL_NEW_ZALO_OA_SECRET": "oaSecretAsDfGh987654",
    "COMMUNEPOL_NEW_ZALO_ACCESS_TOKEN": "accessTokenZxCvBn-0000111122223333",
    "COMMUNEPOL_NEW_ZALO_REFRESH_TOKEN": "refreshTokenPoIuYt-4444555566667777",
}
ALL_SECRETS = (TELEGRAM_TOKEN, ZALO_BOT_TOKEN, *ZALO_OA.values())
NEW_VARIABLES = (
    "COMMUNEPOL_NEW_TELEGRAM_TOKEN",
    "COMMUNEPOL_NEW_ZALO_BOT_TOKEN",
    *ZALO_OA,
)


@pytest.fixture
def env(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated database with two pages (ea-kar, cu-mgar) and no credentials set."""
    for name in (*NEW_VARIABLES, "COMMUNEPOL_TELEGRAM_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMMUNEPOL_PUBLIC_BASE_URL", BASE)

    async def pages() -> None:
        unit = await Unit.create(
            code="T1", level=UnitLevel.COMMUNE, kind="Xã", name="Xã Thử", name_folded="xa thu"
        )
        await Page.create(unit=unit, slug="ea-kar", title="Công an xã Ea Kar")
        await Page.create(unit=unit, slug="cu-mgar", title="Công an xã Cư M'gar")

    query(cli_env, pages)
    return cli_env


def accounts(url: str) -> list[ChannelAccount]:
    return list(query(url, lambda: ChannelAccount.all().order_by("id")))


def account_rows(url: str) -> str:
    """Every column of every channel_account row, as text."""
    return repr(query(url, lambda: ChannelAccount.all().values()))


def secrets_of(url: str, account_id: int) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        account = await ChannelAccount.get(id=account_id)
        return open_secrets(Keyring(TEST_SECRET_KEY), account)

    return dict(query(url, go))


def linked_pages(url: str, account_id: int) -> list[str]:
    async def go() -> list[str]:
        rows = await PageChannel.filter(channel_account_id=account_id).values_list(
            "page__slug", flat=True
        )
        return sorted(str(slug) for slug in rows)

    return list(query(url, go))


def nothing_written(url: str) -> bool:
    async def go() -> bool:
        return await ChannelAccount.all().count() == 0 and await PageChannel.all().count() == 0

    return bool(query(url, go))


def one_error_line(captured: Any) -> str:
    err = str(captured.err)
    assert err.startswith("communepol: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for secret in ALL_SECRETS:
        assert secret not in captured.out + err
    return err


# -- help ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["channels"],
        ["channels", "add"],
        ["channels", "list"],
        ["channels", "webhook"],
        ["channels", "webhook", "set"],
        ["channels", "webhook", "remove"],
        ["channels", "mode"],
    ],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: communepol" in capsys.readouterr().out


# -- add -----------------------------------------------------------------------------------


def test_add_telegram_seals_the_token_and_prints_the_webhook(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    argv = ["channels", "add", "telegram", "--name", "Bot Ea Kar", "--page", "ea-kar"]
    assert run(*argv, "--page", "cu-mgar") == 0
    (account,) = accounts(env)
    captured = capsys.readouterr()
    assert captured.out == (
        f'added telegram account {account.id} "Bot Ea Kar" '
        f"(webhook: {BASE}/webhooks/telegram/{account.id})\n"
    )
    assert account.kind is ChannelKind.TELEGRAM
    assert account.receive_mode is ReceiveMode.WEBHOOK
    rows = account_rows(env)
    assert TELEGRAM_TOKEN not in rows and TELEGRAM_TOKEN.split(":")[1] not in rows
    secrets = secrets_of(env, account.id)
    assert secrets["token"] == TELEGRAM_TOKEN
    webhook_secret = secrets["webhook_secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", webhook_secret)
    assert webhook_secret not in rows
    assert webhook_secret not in captured.out + captured.err
    assert linked_pages(env, account.id) == ["cu-mgar", "ea-kar"]


def test_add_zalo_bot_for_polling(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_NEW_ZALO_BOT_TOKEN", ZALO_BOT_TOKEN)
    assert run("channels", "add", "zalo-bot", "--name", "Zalo Bot Ea Kar", "--polling") == 0
    (account,) = accounts(env)
    captured = capsys.readouterr()
    assert captured.out == f'added zalo-bot account {account.id} "Zalo Bot Ea Kar" (polling)\n'
    assert account.kind is ChannelKind.ZALO_BOT
    assert account.receive_mode is ReceiveMode.POLLING
    rows = account_rows(env)
    assert ZALO_BOT_TOKEN not in rows and ZALO_BOT_TOKEN.split(":")[1] not in rows
    secrets = secrets_of(env, account.id)
    assert secrets["token"] == ZALO_BOT_TOKEN
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", secrets["webhook_secret"])
    assert secrets["webhook_secret"] not in captured.out


def test_add_zalo_oa_prints_the_url_for_the_console(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ZALO_OA.items():
        monkeypatch.setenv(name, value)
    assert run("channels", "add", "zalo-oa", "--name", "OA Công an Ea Kar", "--page", "ea-kar") == 0
    (account,) = accounts(env)
    assert capsys.readouterr().out == (
        f'added zalo-oa account {account.id} "OA Công an Ea Kar" (webhook to paste in the '
        f"Zalo developer console: {BASE}/webhooks/zalo-oa/{account.id})\n"
    )
    rows = account_rows(env)
    for value in ZALO_OA.values():
        assert value not in rows
    assert secrets_of(env, account.id) == {
        "app_id": ZALO_OA["COMMUNEPOL_NEW_ZALO_APP_ID"],
        "app_secret": ZALO_OA["COMMUNEPOL_NEW_ZALO_APP_SECRET"],
        "oa_secret": ZALO_OA["COMMUNEPOL_NEW_ZALO_OA_SECRET"],
        "access_token": ZALO_OA["COMMUNEPOL_NEW_ZALO_ACCESS_TOKEN"],
        "refresh_token": ZALO_OA["COMMUNEPOL_NEW_ZALO_REFRESH_TOKEN"],
    }
    assert linked_pages(env, account.id) == ["ea-kar"]


def test_add_webchat_needs_no_credentials(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("channels", "add", "webchat", "--name", "Trò chuyện", "--page", "ea-kar") == 0
    (account,) = accounts(env)
    assert capsys.readouterr().out == f'added webchat account {account.id} "Trò chuyện"\n'
    assert account.secrets_sealed is None
    assert linked_pages(env, account.id) == ["ea-kar"]


def test_add_reads_missing_credentials_from_piped_json(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three from the environment, two from standard input.
    for name in list(ZALO_OA)[:3]:
        monkeypatch.setenv(name, ZALO_OA[name])
    piped = {
        "access_token": ZALO_OA["COMMUNEPOL_NEW_ZALO_ACCESS_TOKEN"],
        "refresh_token": ZALO_OA["COMMUNEPOL_NEW_ZALO_REFRESH_TOKEN"],
    }
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(piped)))
    assert run("channels", "add", "zalo-oa", "--name", "OA", "--secrets-from-stdin") == 0
    (account,) = accounts(env)
    assert secrets_of(env, account.id)["refresh_token"] == piped["refresh_token"]
    assert "added zalo-oa account" in capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"token": TELEGRAM_TOKEN})))
    assert run("channels", "add", "telegram", "--name", "Bot", "--secrets-from-stdin") == 0
    telegram = accounts(env)[-1]
    assert secrets_of(env, telegram.id)["token"] == TELEGRAM_TOKEN
    assert TELEGRAM_TOKEN not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("kind", "variables", "stdin", "message"),
    [
        ("telegram", {}, None, "missing credentials: set COMMUNEPOL_NEW_TELEGRAM_TOKEN"),
        (
            "telegram",
            {"COMMUNEPOL_NEW_TELEGRAM_TOKEN": "AAHsecretTelegramToken"},
            None,
            "the Telegram bot token is malformed",
        ),
        (
            "telegram",
            {"COMMUNEPOL_NEW_TELEGRAM_TOKEN": "70123:AAH secret"},
            None,
            "the Telegram bot token is malformed",
        ),
        (
            "zalo-bot",
            {"COMMUNEPOL_NEW_ZALO_BOT_TOKEN": "zaloBotSecretPart/0123"},
            None,
            "the Zalo Bot token is malformed",
        ),
        (
            "zalo-oa",
            {k: v for k, v in ZALO_OA.items() if k != "COMMUNEPOL_NEW_ZALO_OA_SECRET"},
            None,
            "missing credentials: set COMMUNEPOL_NEW_ZALO_OA_SECRET",
        ),
        ("telegram", {}, "not json", "standard input is not a JSON object"),
        ("telegram", {}, '{"tokn": "1:x"}', "standard input has unexpected keys"),
        ("telegram", {}, '{"token": 7}', "token in standard input must be a string"),
    ],
)
def test_add_with_bad_credentials_writes_nothing(
    env: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    variables: dict[str, str],
    stdin: str | None,
    message: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    argv = ["channels", "add", kind, "--name", "Bot"]
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        argv.append("--secrets-from-stdin")
    assert run(*argv) == 2
    captured = capsys.readouterr()
    err = one_error_line(captured)
    assert message in err
    for value in variables.values():
        assert value not in err
    assert nothing_written(env)


def test_add_with_an_unknown_page_writes_nothing(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    argv = [
        "channels",
        "add",
        "telegram",
        "--name",
        "Bot",
        "--page",
        "ea-kar",
        "--page",
        "atlantis",
    ]
    assert run(*argv) == 2
    assert "no page with slug 'atlantis'" in one_error_line(capsys.readouterr())
    assert nothing_written(env)


def test_add_is_one_transaction(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure after the account row was inserted (while linking its pages) rolls it back."""
    from communepol.errors import Conflict
    from communepol.services import channels

    linked: list[str] = []
    carry_page = channels.carry_page

    async def failing_carry_page(account: ChannelAccount, page: Page) -> PageChannel:
        if linked:
            raise Conflict("the pages changed meanwhile")
        linked.append(page.slug)
        return await carry_page(account, page)

    monkeypatch.setattr(channels, "carry_page", failing_carry_page)
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    argv = ["channels", "add", "telegram", "--name", "Bot", "--page", "ea-kar", "--page", "cu-mgar"]
    assert run(*argv) == 1
    assert "the pages changed meanwhile" in one_error_line(capsys.readouterr())
    assert linked == ["ea-kar"]
    assert nothing_written(env)


@pytest.mark.parametrize("kind", ["zalo-oa", "webchat"])
def test_polling_is_only_for_telegram_and_zalo_bot(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    for name, value in ZALO_OA.items():
        monkeypatch.setenv(name, value)
    assert run("channels", "add", kind, "--name", "OA", "--polling") == 2
    assert "cannot be polled" in one_error_line(capsys.readouterr())
    assert nothing_written(env)


def test_add_with_an_empty_name_writes_nothing(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    assert run("channels", "add", "telegram", "--name", "  ", "--page", "ea-kar") == 2
    assert "needs a name" in one_error_line(capsys.readouterr())
    assert nothing_written(env)


# -- list ----------------------------------------------------------------------------------


def test_list_shows_accounts_but_no_secret(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("channels", "list") == 0
    assert capsys.readouterr().out.startswith("no channel accounts")
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    assert run("channels", "add", "telegram", "--name", "Bot Ea Kar", "--page", "ea-kar") == 0
    for name, value in ZALO_OA.items():
        monkeypatch.setenv(name, value)
    assert run("channels", "add", "zalo-oa", "--name", "OA Cư M'gar", "--page", "cu-mgar") == 0
    telegram, oa = accounts(env)
    query(
        env,
        lambda: ChannelAccount.filter(id=oa.id).update(last_error="Zalo refused the access token"),
    )
    capsys.readouterr()
    assert run("channels", "list") == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == [
        "ID",
        "KIND",
        "NAME",
        "STATUS",
        "RECEIVES",
        "PAGES",
        "LAST",
        "ERROR",
    ]
    assert len(lines) == 3
    assert lines[1].startswith(str(telegram.id))
    assert "telegram" in lines[1] and "Bot Ea Kar" in lines[1] and "ea-kar" in lines[1]
    assert "active" in lines[1] and "webhook" in lines[1]
    assert "zalo-oa" in lines[2] and "cu-mgar" in lines[2]
    assert lines[2].endswith("Zalo refused the access token")
    webhook_secret = secrets_of(env, telegram.id)["webhook_secret"]
    for secret in (*ALL_SECRETS, webhook_secret):
        assert secret not in captured.out + captured.err


# -- mode ----------------------------------------------------------------------------------


def test_mode_switches_the_receive_mode(
    env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    assert run("channels", "add", "telegram", "--name", "Bot") == 0
    assert run("channels", "add", "webchat", "--name", "Chat") == 0
    telegram, webchat = accounts(env)
    capsys.readouterr()
    assert run("channels", "mode", str(telegram.id), "polling") == 0
    assert f"telegram account {telegram.id} now receives by polling" in capsys.readouterr().out
    assert accounts(env)[0].receive_mode is ReceiveMode.POLLING
    assert run("channels", "mode", str(telegram.id), "polling") == 0
    assert "already receives by polling" in capsys.readouterr().out
    assert run("channels", "mode", str(telegram.id), "webhook") == 0
    assert accounts(env)[0].receive_mode is ReceiveMode.WEBHOOK
    capsys.readouterr()
    assert run("channels", "mode", str(webchat.id), "polling") == 2
    assert "cannot be polled" in one_error_line(capsys.readouterr())
    assert run("channels", "mode", "999", "polling") == 2
    assert "no channel account 999" in one_error_line(capsys.readouterr())


def test_pause_and_activate_an_account(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("channels", "add", "webchat", "--name", "Chat") == 0
    [chat] = accounts(env)
    capsys.readouterr()
    assert run("channels", "pause", str(chat.id)) == 0
    assert f"webchat account {chat.id} is now paused" in capsys.readouterr().out
    assert accounts(env)[0].status is ChannelStatus.PAUSED
    assert run("channels", "activate", str(chat.id)) == 0
    assert accounts(env)[0].status is ChannelStatus.ACTIVE
    assert run("channels", "activate", str(chat.id)) == 0
    assert "is already active" in capsys.readouterr().out
    assert run("channels", "activate", "999") == 2


# -- webhook set / remove against a fake Telegram --------------------------------------------


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """A fake Bot API server on its own event loop in a thread: the CLI runs its own loop
    (`asyncio.run`) in the test's thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> FakeTelegram:
        fake = FakeTelegram()
        await fake.start()
        return fake

    fake = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    monkeypatch.setenv("COMMUNEPOL_TELEGRAM_API_BASE", fake.base_url)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _telegram_account(env: str, monkeypatch: pytest.MonkeyPatch, *extra: str) -> ChannelAccount:
    monkeypatch.setenv("COMMUNEPOL_NEW_TELEGRAM_TOKEN", TELEGRAM_TOKEN)
    assert run("channels", "add", "telegram", "--name", "Bot Ea Kar", *extra) == 0
    return accounts(env)[-1]


def test_webhook_set_and_remove(
    env: str,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = _telegram_account(env, monkeypatch)
    webhook_secret = secrets_of(env, account.id)["webhook_secret"]
    capsys.readouterr()
    assert run("channels", "webhook", "set", str(account.id)) == 0
    url = f"{BASE}/webhooks/telegram/{account.id}"
    captured = capsys.readouterr()
    assert captured.out == f"webhook of telegram account {account.id} set to {url}\n"
    assert webhook_secret not in captured.out + captured.err
    (call,) = telegram.calls_to("setWebhook")
    assert call.params["_token"] == TELEGRAM_TOKEN
    assert call.params["url"] == url
    assert call.params["secret_token"] == webhook_secret

    assert run("channels", "webhook", "remove", str(account.id)) == 0
    assert capsys.readouterr().out == f"webhook of telegram account {account.id} removed\n"
    (call,) = telegram.calls_to("deleteWebhook")
    assert call.params["_token"] == TELEGRAM_TOKEN
    assert telegram.webhook == {}


def test_webhook_refused_by_the_platform_is_exit_3(
    env: str,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = _telegram_account(env, monkeypatch)
    capsys.readouterr()
    telegram.fail_next(Fault.platform_error(401, "Unauthorized"))
    assert run("channels", "webhook", "set", str(account.id)) == 3
    err = one_error_line(capsys.readouterr())
    assert f"setting the webhook of telegram account {account.id} failed" in err
    assert "refused the bot token" in err
    telegram.fail_next(Fault.server_error(502))
    assert run("channels", "webhook", "remove", str(account.id)) == 3
    assert "removing the webhook" in one_error_line(capsys.readouterr())


def test_webhook_set_refusals(
    env: str,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    polling = _telegram_account(env, monkeypatch, "--polling")
    for name, value in ZALO_OA.items():
        monkeypatch.setenv(name, value)
    assert run("channels", "add", "zalo-oa", "--name", "OA") == 0
    assert run("channels", "add", "webchat", "--name", "Chat") == 0
    _, oa, webchat = accounts(env)
    capsys.readouterr()

    assert run("channels", "webhook", "set", str(polling.id)) == 1
    assert "receives by polling" in one_error_line(capsys.readouterr())
    assert run("channels", "webhook", "set", str(oa.id)) == 1
    err = one_error_line(capsys.readouterr())
    assert "Zalo developer console" in err and f"{BASE}/webhooks/zalo-oa/{oa.id}" in err
    assert run("channels", "webhook", "remove", str(oa.id)) == 1
    capsys.readouterr()
    assert run("channels", "webhook", "set", str(webchat.id)) == 1
    assert "no platform webhook" in one_error_line(capsys.readouterr())
    assert run("channels", "webhook", "set", "999") == 2
    assert "no channel account 999" in one_error_line(capsys.readouterr())
    assert telegram.calls == []

    # A polling account may still have its old webhook removed (getUpdates needs that).
    assert run("channels", "webhook", "remove", str(polling.id)) == 0
    assert len(telegram.calls_to("deleteWebhook")) == 1


def test_webhook_set_needs_https_in_production(
    env: str,
    telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account = _telegram_account(env, monkeypatch)
    monkeypatch.setenv("COMMUNEPOL_ENV", "production")
    monkeypatch.setenv("COMMUNEPOL_PUBLIC_BASE_URL", "http://cand.example.vn")
    capsys.readouterr()
    assert run("channels", "webhook", "set", str(account.id)) == 1
    assert "needs an https webhook URL" in one_error_line(capsys.readouterr())
    assert telegram.calls == []
    monkeypatch.setenv("COMMUNEPOL_PUBLIC_BASE_URL", BASE)
    assert run("channels", "webhook", "set", str(account.id)) == 0
    assert telegram.calls_to("setWebhook")[0].params["url"].startswith(BASE)
