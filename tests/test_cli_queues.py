"""`communepol inbox …` and `communepol outbox …` as staff use them: what the bot channel gave
up on is listed by id, kind, status, time, attempts and error — never a payload, a platform
id or whose it is — and retrying puts rows back in the queue with a fresh count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from communepol.cli import main
from communepol.crypto import Keyring
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    InboundEvent,
    InboundStatus,
)
from communepol.services.contacts import ContactIdentity, find_or_create_contact
from tests.conftest import TEST_SECRET_KEY
from tests.test_cli import cli_env, query, run

__all__ = ["cli_env"]  # the fixture, imported for the tests below

SENTINEL = "SENTINEL-987654321"
# 2025-03-01 00:30 UTC is 07:30 in Asia/Ho_Chi_Minh.
MOMENT = datetime(2025, 3, 1, 0, 30, tzinfo=UTC)
LOCAL = "2025-03-01 07:30"


@dataclass(frozen=True)
class Seeded:
    webchat: int
    telegram: int
    parked: list[int]  # oldest first
    pending_event: int
    done_event: int
    deliveries: dict[str, int]  # label → id


async def _seed() -> Seeded:
    keyring = Keyring(TEST_SECRET_KEY)
    webchat = await ChannelAccount.create(kind=ChannelKind.WEBCHAT, name="Web chat Ea Kar")
    telegram = await ChannelAccount.create(kind=ChannelKind.TELEGRAM, name="Bot Ea Kar")
    contact, _ = await find_or_create_contact(
        keyring, webchat, ContactIdentity(platform_user_id=SENTINEL, display_name=SENTINEL)
    )
    other, _ = await find_or_create_contact(
        keyring, telegram, ContactIdentity(platform_user_id=f"{SENTINEL}-tg")
    )

    def event(n: int, status: InboundStatus, error: str | None) -> Any:
        return InboundEvent.create(
            channel_account=webchat,
            platform_event_id=f"{SENTINEL}-event-{n}",
            event_kind="message",
            contact_key=f"{SENTINEL}-key",
            # Not even sealed here: whatever the payload holds must never be printed.
            payload_sealed=f'{{"text": "{SENTINEL} tip text", "chat_id": "{SENTINEL}"}}',
            status=status,
            attempts=6 if status is InboundStatus.PARKED else 1,
            not_before=MOMENT,
            last_error=error,
        )

    parked = [
        await event(1, InboundStatus.PARKED, "RuntimeError: the tip could not be routed"),
        await event(2, InboundStatus.PARKED, "TimeoutError:\n  while planning a reply"),
    ]
    pending = await event(3, InboundStatus.PENDING, None)
    done = await event(4, InboundStatus.DONE, None)
    await InboundEvent.filter(id__in=[e.id for e in (*parked, pending, done)]).update(
        received_at=MOMENT
    )

    rows = {
        "dead": (
            webchat,
            contact,
            DeliveryStatus.DEAD,
            DeliveryKind.REPLY,
            "HTTP 502 from webchat",
        ),
        "dead2": (webchat, contact, DeliveryStatus.DEAD, DeliveryKind.BROADCAST, "timed out"),
        "quota": (
            webchat,
            contact,
            DeliveryStatus.QUOTA_BLOCKED,
            DeliveryKind.NOTIFICATION,
            "quota exceeded",
        ),
        "sent": (webchat, contact, DeliveryStatus.SENT, DeliveryKind.REPLY, None),
        "pending": (webchat, contact, DeliveryStatus.PENDING, DeliveryKind.REPLY, None),
        "retrying": (webchat, contact, DeliveryStatus.PENDING, DeliveryKind.ALERT, "HTTP 500"),
        "tg_dead": (telegram, other, DeliveryStatus.DEAD, DeliveryKind.ALERT, "Bad Gateway"),
        "tg_unreachable": (
            telegram,
            other,
            DeliveryStatus.UNREACHABLE,
            DeliveryKind.BROADCAST,
            "blocked",
        ),
    }
    deliveries: dict[str, int] = {}
    for label, (account, recipient, status, kind, error) in rows.items():
        row = await Delivery.create(
            channel_account=account,
            contact=recipient,
            kind=kind,
            dedup_key=f"test:{label}",
            payload={"text": f"{SENTINEL} message text", "reply_to": SENTINEL},
            status=status,
            attempts=5 if status is DeliveryStatus.DEAD else 1,
            not_before=MOMENT,
            last_error=error,
        )
        deliveries[label] = row.id
    await Delivery.all().update(created_at=MOMENT)
    return Seeded(
        webchat=webchat.id,
        telegram=telegram.id,
        parked=[e.id for e in parked],
        pending_event=pending.id,
        done_event=done.id,
        deliveries=deliveries,
    )


@pytest.fixture
def seeded(cli_env: str) -> Seeded:
    result: Seeded = query(cli_env, _seed)
    return result


def output(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    captured = capsys.readouterr()
    assert SENTINEL not in captured.out + captured.err
    assert "Traceback" not in captured.err
    return captured.out, captured.err


def error_line(err: str) -> str:
    assert err.startswith("communepol: error: ") and err.count("\n") == 1, err
    return err


def table(out: str) -> dict[int, list[str]]:
    """The table's rows by id (its first column), split on runs of two or more spaces."""
    import re

    lines = out.splitlines()
    assert lines[0].split()[0] == "ID"
    return {
        int(cells[0]): cells
        for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])
        if cells[0].isdigit()
    }


def event_row(url: str, event_id: int) -> InboundEvent:
    row: InboundEvent = query(url, lambda: InboundEvent.get(id=event_id))
    return row


def delivery_row(url: str, delivery_id: int) -> Delivery:
    row: Delivery = query(url, lambda: Delivery.get(id=delivery_id))
    return row


# -- help and bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["inbox"],
        ["inbox", "parked"],
        ["inbox", "retry"],
        ["outbox"],
        ["outbox", "status"],
        ["outbox", "dead"],
        ["outbox", "retry"],
    ],
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: communepol" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["inbox", "parked"], ["outbox", "dead"]])
@pytest.mark.parametrize("limit", ["0", "-3", "ten", "2.5", "", "99999999999"])
def test_limit_must_be_a_positive_whole_number(
    command: list[str], limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*command, "--limit", limit])
    assert caught.value.code == 2
    assert "--limit" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["inbox", "retry", "0"],
        ["inbox", "retry", "abc"],
        ["outbox", "retry", "-1"],
        ["outbox", "status", "--account", "x"],
        ["outbox", "dead", "--account", "0"],
    ],
)
def test_malformed_ids_are_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["inbox", "retry"], "give the ids to retry, or --all"),
        (["inbox", "retry", "1", "--all"], "give ids or --all, not both"),
        (["outbox", "retry"], "give the ids to retry, or --all-dead"),
        (["outbox", "retry", "1", "--all-dead"], "give ids or --all-dead, not both"),
        (["outbox", "retry", "1", "--account", "1"], "--account goes with --all-dead"),
    ],
)
def test_retry_needs_ids_or_all(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(*argv) == 2
    _, err = output(capsys)
    assert message in error_line(err)


# -- inbox ---------------------------------------------------------------------------------


def test_inbox_parked_when_nothing_is_parked(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("inbox", "parked") == 0
    assert capsys.readouterr().out == "no parked events\n"


def test_inbox_parked_lists_only_parked_events_newest_first(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("inbox", "parked") == 0
    out, err = output(capsys)
    assert err == ""
    assert out.splitlines()[0].split() == [
        "ID",
        "ACCOUNT",
        "EVENT",
        "ATTEMPTS",
        "RECEIVED",
        "(Asia/Ho_Chi_Minh)",
        "LAST",
        "ERROR",
    ]
    rows = table(out)
    first, second = seeded.parked
    assert list(rows) == [second, first]
    assert rows[first] == [
        str(first),
        f"{seeded.webchat} webchat",
        "message",
        "6",
        LOCAL,
        "RuntimeError: the tip could not be routed",
    ]
    assert rows[second][-1] == "TimeoutError: while planning a reply"  # one line
    assert "(the newest" not in out


def test_inbox_parked_limit(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("inbox", "parked", "--limit", "1") == 0
    out, _ = output(capsys)
    assert list(table(out)) == [seeded.parked[1]]
    assert "(the newest 1 only; see more with --limit)" in out
    assert run("inbox", "parked", "--limit", "2") == 0
    out, _ = output(capsys)
    assert list(table(out)) == [seeded.parked[1], seeded.parked[0]]
    assert "(the newest" not in out


def test_inbox_retry_puts_parked_events_back_with_a_fresh_count(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str
) -> None:
    first, second = seeded.parked
    assert run("inbox", "retry", str(first), str(first)) == 0
    out, err = output(capsys)
    assert out == "1 parked event sent through again\n" and err == ""
    row = event_row(cli_env, first)
    assert row.status is InboundStatus.PENDING
    assert row.attempts == 0 and row.last_error is None
    assert event_row(cli_env, second).status is InboundStatus.PARKED
    assert run("inbox", "parked") == 0
    assert list(table(output(capsys)[0])) == [second]


def test_inbox_retry_names_what_it_did_not_retry(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str
) -> None:
    parked = seeded.parked[0]
    argv = [str(parked), str(seeded.pending_event), "999999", str(seeded.done_event)]
    assert run("inbox", "retry", *argv) == 0
    out, _ = output(capsys)
    assert out == (
        "1 parked event sent through again\n"
        f"not retried (only parked events can be): {seeded.pending_event} (pending), "
        f"999999 (no such event), {seeded.done_event} (done)\n"
    )
    assert event_row(cli_env, seeded.pending_event).attempts == 1  # untouched
    assert event_row(cli_env, seeded.done_event).status is InboundStatus.DONE


def test_inbox_retry_of_nothing_retryable_is_refused(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str
) -> None:
    assert run("inbox", "retry", "999999") == 1
    out, err = output(capsys)
    assert out == ""
    assert error_line(err) == (
        "communepol: error: nothing retried (only parked events can be): 999999 (no such event)\n"
    )
    assert run("inbox", "retry", str(seeded.pending_event)) == 1
    assert f"{seeded.pending_event} (pending)" in error_line(output(capsys)[1])
    assert event_row(cli_env, seeded.pending_event).status is InboundStatus.PENDING


def test_inbox_retry_all(seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str) -> None:
    assert run("inbox", "retry", "--all") == 0
    assert output(capsys)[0] == "2 parked events sent through again\n"
    for event_id in seeded.parked:
        row = event_row(cli_env, event_id)
        assert row.status is InboundStatus.PENDING and row.attempts == 0
    assert event_row(cli_env, seeded.done_event).status is InboundStatus.DONE
    assert run("inbox", "retry", "--all") == 1
    assert error_line(output(capsys)[1]) == "communepol: error: no parked events to retry\n"
    assert run("inbox", "parked") == 0
    assert output(capsys)[0] == "no parked events\n"


# -- outbox --------------------------------------------------------------------------------


def status_table(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines}


def test_outbox_status_overall_and_per_account(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("outbox", "status") == 0
    out, err = output(capsys)
    assert err == ""
    rows = status_table(out)
    web, tg = seeded.webchat, seeded.telegram
    assert out.splitlines()[0].split() == [
        "STATUS",
        "ALL",
        str(web),
        "webchat",
        str(tg),
        "telegram",
    ]
    assert list(rows)[1:] == [
        "pending",
        "sending",
        "sent",
        "dead",
        "unreachable",
        "quota_blocked",
        "cancelled",
    ]
    assert rows["dead"] == ["3", "2", "1"]
    assert rows["pending"] == ["2", "2", "0"]
    assert rows["unreachable"] == ["1", "0", "1"]
    assert rows["quota_blocked"] == ["1", "1", "0"]
    assert rows["sending"] == ["0", "0", "0"]

    assert run("outbox", "status", "--account", str(tg)) == 0
    rows = status_table(output(capsys)[0])
    assert rows["STATUS"] == [str(tg), "telegram"]
    assert rows["dead"] == ["1"] and rows["sent"] == ["0"] and rows["unreachable"] == ["1"]


def test_outbox_status_of_an_unknown_account(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("outbox", "status", "--account", "4242") == 2
    assert error_line(output(capsys)[1]) == "communepol: error: no channel account 4242\n"


def test_outbox_status_of_an_empty_outbox(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("outbox", "status") == 0
    rows = status_table(capsys.readouterr().out)
    assert rows["STATUS"] == ["ALL"]
    assert set(map(tuple, list(rows.values())[1:])) == {("0",)}


def test_outbox_dead_lists_dead_and_quota_blocked_rows(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("outbox", "dead") == 0
    out, err = output(capsys)
    assert err == ""
    assert out.splitlines()[0].split() == [
        "ID",
        "ACCOUNT",
        "KIND",
        "STATUS",
        "ATTEMPTS",
        "CREATED",
        "(Asia/Ho_Chi_Minh)",
        "LAST",
        "ERROR",
    ]
    rows = table(out)
    d = seeded.deliveries
    assert list(rows) == [d["tg_dead"], d["quota"], d["dead2"], d["dead"]]
    assert rows[d["dead"]] == [
        str(d["dead"]),
        f"{seeded.webchat} webchat",
        "reply",
        "dead",
        "5",
        LOCAL,
        "HTTP 502 from webchat",
    ]
    assert rows[d["quota"]][3:5] == ["quota_blocked", "1"]
    assert rows[d["tg_dead"]][1:4] == [f"{seeded.telegram} telegram", "alert", "dead"]

    assert run("outbox", "dead", "--account", str(seeded.telegram)) == 0
    assert list(table(output(capsys)[0])) == [d["tg_dead"]]
    assert run("outbox", "dead", "--limit", "2") == 0
    out, _ = output(capsys)
    assert list(table(out)) == [d["tg_dead"], d["quota"]]
    assert "(the newest 2 only; see more with --limit)" in out
    assert run("outbox", "dead", "--account", "4242") == 2
    assert "no channel account 4242" in error_line(output(capsys)[1])


def test_outbox_dead_when_there_is_none(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("outbox", "dead") == 0
    assert capsys.readouterr().out == "no dead or quota-blocked deliveries\n"


def test_outbox_retry_puts_dead_letters_back_with_a_fresh_count(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str
) -> None:
    d = seeded.deliveries
    argv = [str(d["dead"]), str(d["quota"]), str(d["sent"]), "999999"]
    assert run("outbox", "retry", *argv) == 0
    out, err = output(capsys)
    assert err == ""
    assert out == (
        "1 dead letter back in the queue\n"
        f"not retried (only dead letters can be): {d['quota']} (quota_blocked), "
        f"{d['sent']} (sent), 999999 (no such delivery)\n"
    )
    row = delivery_row(cli_env, d["dead"])
    assert row.status is DeliveryStatus.PENDING
    assert row.attempts == 0 and row.last_error is None
    assert delivery_row(cli_env, d["quota"]).status is DeliveryStatus.QUOTA_BLOCKED
    assert delivery_row(cli_env, d["sent"]).status is DeliveryStatus.SENT
    assert delivery_row(cli_env, d["dead2"]).status is DeliveryStatus.DEAD


def test_outbox_retry_of_nothing_retryable_is_refused(
    seeded: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("outbox", "retry", "999999", "999998") == 1
    out, err = output(capsys)
    assert out == ""
    assert error_line(err) == (
        "communepol: error: nothing retried (only dead letters can be): "
        "999999 (no such delivery), 999998 (no such delivery)\n"
    )
    assert run("outbox", "retry", str(seeded.deliveries["retrying"])) == 1
    assert f"{seeded.deliveries['retrying']} (pending)" in error_line(output(capsys)[1])


def test_outbox_retry_all_dead_of_one_account_then_all(
    seeded: Seeded, capsys: pytest.CaptureFixture[str], cli_env: str
) -> None:
    d = seeded.deliveries
    assert run("outbox", "retry", "--all-dead", "--account", str(seeded.telegram)) == 0
    assert output(capsys)[0] == "1 dead letter back in the queue\n"
    assert delivery_row(cli_env, d["tg_dead"]).status is DeliveryStatus.PENDING
    assert delivery_row(cli_env, d["dead"]).status is DeliveryStatus.DEAD
    assert run("outbox", "retry", "--all-dead", "--account", str(seeded.telegram)) == 1
    assert error_line(output(capsys)[1]) == "communepol: error: no dead letters to retry\n"
    assert run("outbox", "retry", "--all-dead", "--account", "4242") == 2
    assert "no channel account 4242" in error_line(output(capsys)[1])

    assert run("outbox", "retry", "--all-dead") == 0
    assert output(capsys)[0] == "2 dead letters back in the queue\n"
    for label in ("dead", "dead2"):
        row = delivery_row(cli_env, d[label])
        assert row.status is DeliveryStatus.PENDING and row.attempts == 0
    assert delivery_row(cli_env, d["quota"]).status is DeliveryStatus.QUOTA_BLOCKED
    assert run("outbox", "dead") == 0
    assert list(table(output(capsys)[0])) == [d["quota"]]
    assert run("outbox", "status") == 0
    rows = status_table(output(capsys)[0])
    assert rows["dead"] == ["0", "0", "0"] and rows["pending"] == ["5", "4", "1"]
