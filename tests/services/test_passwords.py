"""The password policy every chosen web password passes: length (12 to 128, any characters),
the 30,000 most common passwords, words of the person's own context, and — when configured —
the Pwned Passwords range API (here its fake): found, not found, a padded line, and the service
down or failing, when the local checks alone decide and the log names nothing secret."""

from __future__ import annotations

import logging

import pytest

from communepol.errors import ValidationError
from communepol.services.passwords import (
    BREACHED,
    COMMON,
    CONTEXT,
    TOO_LONG,
    TOO_SHORT,
    PwnedPasswords,
    check_new_password,
    check_password_locally,
    generate_password,
)
from tests.fakes.base import Fault
from tests.fakes.pwned import FakePwnedPasswords, sha1_hex

PASSPHRASE = "mưa rừng Ea Kar chiều thứ bảy"
CONTEXT_OF_Y_KONG = ("y.kong", "Y Kông Niê", "Xã Ea Pốk")


async def _refusal(password: str, **kwargs: object) -> str:
    with pytest.raises(ValidationError) as caught:
        await check_new_password(password, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == "password"
    return caught.value.message


async def test_length_is_12_to_128_characters_of_any_kind() -> None:
    assert await _refusal("short pass") == TOO_SHORT
    assert await _refusal("x" * 129) == TOO_LONG
    await check_new_password("đ" * 12)
    await check_new_password("a long passphrase " * 7)  # 126 characters, spaces and all
    await check_new_password(PASSPHRASE, context=CONTEXT_OF_Y_KONG)
    # No composition rules: lower-case letters alone are fine when long and uncommon.
    await check_new_password("tortoisebanyantree")


@pytest.mark.parametrize("password", ["qwerty123456", "Password1234", "LEAVEMEALONE"])
async def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    assert await _refusal(password) == COMMON


@pytest.mark.parametrize(
    "password",
    [
        "ykong2024ykong",  # the username, twice, and a year
        "Y Kông Niê 1990!",  # the full name with diacritics
        "ykongnie@eapok",  # name and unit
        "communepol2026!",
        "Công An Xã 123456",
        "congan.ykong.99",
    ],
)
async def test_a_password_made_of_context_words_is_refused(password: str) -> None:
    assert await _refusal(password, context=CONTEXT_OF_Y_KONG) == CONTEXT


async def test_context_words_inside_a_real_passphrase_are_fine() -> None:
    await check_new_password("kong went fishing at the lake", context=CONTEXT_OF_Y_KONG)


def test_generated_passwords_pass_the_local_policy() -> None:
    seen = set()
    for _ in range(20):
        password = generate_password()
        groups = password.split("-")
        assert [len(group) for group in groups] == [5, 5, 5, 5]
        assert not set("".join(groups)) & set("0O1IL")  # nothing read wrongly aloud
        check_password_locally(password, context=CONTEXT_OF_Y_KONG)
        seen.add(password)
    assert len(seen) == 20


async def test_a_breached_password_is_refused_and_only_a_prefix_is_sent() -> None:
    async with FakePwnedPasswords() as fake:
        fake.breach(PASSPHRASE, count=12)
        breaches = PwnedPasswords(fake.base_url)
        assert await _refusal(PASSPHRASE, breaches=breaches) == BREACHED
        (call,) = fake.calls_to("range")
        digest = sha1_hex(PASSPHRASE)
        assert call.params == {"prefix": digest[:5]}
        assert call.headers.get("Add-Padding") == "true"
        assert PASSPHRASE not in str(call) and digest[5:] not in str(call)


async def test_a_password_not_in_the_breach_list_is_accepted() -> None:
    async with FakePwnedPasswords() as fake:
        fake.breach("some other leaked password")
        # A padding line for this very suffix (count 0) is not a breach.
        fake.breach(PASSPHRASE, count=0)
        await check_new_password(PASSPHRASE, breaches=PwnedPasswords(fake.base_url))
        assert len(fake.calls_to("range")) == 1


async def test_local_refusals_do_not_reach_the_service() -> None:
    async with FakePwnedPasswords() as fake:
        assert await _refusal("qwerty123456", breaches=PwnedPasswords(fake.base_url)) == COMMON
        assert fake.calls == []


async def test_the_service_down_or_failing_leaves_the_local_checks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with FakePwnedPasswords() as fake:
        fake.breach(PASSPHRASE)
        fake.fail_always(Fault.server_error(503))
        with caplog.at_level(logging.WARNING, logger="communepol.services.passwords"):
            await check_new_password(PASSPHRASE, breaches=PwnedPasswords(fake.base_url))
            assert await _refusal("Password1234", breaches=PwnedPasswords(fake.base_url)) == (
                COMMON
            )
        base_url = fake.base_url
    # Stopped: nothing listens there any more.
    with caplog.at_level(logging.WARNING, logger="communepol.services.passwords"):
        await check_new_password(PASSPHRASE, breaches=PwnedPasswords(base_url, timeout=2))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "HTTP 503" in warnings[0] and "could not be reached" in warnings[1]
    digest = sha1_hex(PASSPHRASE)
    for text in warnings:
        assert PASSPHRASE not in text and digest[:5] not in text and digest[5:] not in text
