"""Settings: defaults, every documented variable, and bad values stopping with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from communepol.errors import SettingsError
from communepol.settings import PREFIX, VARIABLES, Settings

KEY = "k" * 40


def env(**values: str) -> dict[str, str]:
    return {PREFIX + name: value for name, value in values.items()}


def test_defaults_point_at_the_working_directory(tmp_path: Path) -> None:
    settings = Settings.from_env(env(SECRET_KEY=KEY), workdir=tmp_path)
    assert settings.database_url == f"sqlite://{tmp_path}/communepol.sqlite3"
    assert settings.timezone == "Asia/Ho_Chi_Minh"
    assert settings.default_locale == "vi"
    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.zalo_oa_api_base == "https://openapi.zalo.me"
    assert settings.zalo_oauth_api_base == "https://oauth.zaloapp.com"
    assert settings.zalo_bot_api_base == "https://bot-api.zaloplatforms.com"


def test_platform_bases_can_point_at_local_fakes(tmp_path: Path) -> None:
    settings = Settings.from_env(
        env(
            SECRET_KEY=KEY,
            TELEGRAM_API_BASE="http://127.0.0.1:18081/",
            ZALO_BOT_API_BASE="http://127.0.0.1:18082",
        ),
        workdir=tmp_path,
    )
    assert settings.telegram_api_base == "http://127.0.0.1:18081"
    assert settings.zalo_bot_api_base == "http://127.0.0.1:18082"


def test_a_paid_broadcast_rate_can_be_set(tmp_path: Path) -> None:
    settings = Settings.from_env(env(SECRET_KEY=KEY, TELEGRAM_SEND_RATE="1000"), workdir=tmp_path)
    assert settings.telegram_send_rate == 1000
    assert Settings.from_env(env(SECRET_KEY=KEY), workdir=tmp_path).telegram_send_rate == 30


def test_the_breached_password_check_is_off_unless_given_a_url(tmp_path: Path) -> None:
    assert Settings.from_env(env(SECRET_KEY=KEY), workdir=tmp_path).pwned_passwords_url == ""
    settings = Settings.from_env(
        env(SECRET_KEY=KEY, PWNED_PASSWORDS_URL="https://api.pwnedpasswords.com/"),
        workdir=tmp_path,
    )
    assert settings.pwned_passwords_url == "https://api.pwnedpasswords.com"


def test_development_generates_and_keeps_a_private_secret_key(tmp_path: Path) -> None:
    first = Settings.from_env({}, workdir=tmp_path)
    second = Settings.from_env({}, workdir=tmp_path)
    key_file = tmp_path / ".communepol-secret"
    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= 32
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env(ENV="production"), workdir=tmp_path)
    assert caught.value.message.startswith("COMMUNEPOL_SECRET_KEY:")
    assert not (tmp_path / ".communepol-secret").exists()


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = Settings.from_env(env(SECRET_KEY=KEY), workdir=tmp_path)
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENV", "staging"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("DATABASE_URL", "postgres://"),
        ("DATABASE_URL", "postgres://host:notaport/db"),
        ("SECRET_KEY", "short"),
        ("PUBLIC_BASE_URL", "ftp://example.org"),
        ("PUBLIC_BASE_URL", "example.org"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("TELEGRAM_SEND_RATE", "fast"),
        ("TELEGRAM_SEND_RATE", "0"),
        ("TELEGRAM_SEND_RATE", "5000"),
        ("TIMEZONE", "Asia/Hanoi_City"),
        ("DEFAULT_LOCALE", "fr"),
        ("LOG_LEVEL", "LOUD"),
        ("TELEGRAM_API_BASE", "not a url"),
        ("ZALO_OA_API_BASE", "openapi.zalo.me"),
        ("PWNED_PASSWORDS_URL", "api.pwnedpasswords.com"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    values = {"SECRET_KEY": KEY, name: value}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env(**values), workdir=tmp_path)
    message = caught.value.message
    assert message.startswith(f"{PREFIX}{name}: ")
    assert "\n" not in message


def test_every_variable_is_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [v.name for v in VARIABLES if f"`{PREFIX}{v.name}`" not in readme]
    assert missing == []


def test_the_breach_watch_limits_are_read_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    defaults = Settings.from_env(env(SECRET_KEY=KEY), workdir=tmp_path)
    assert (defaults.watch_tip_reads, defaults.watch_refused) == (40, 5)
    chosen = Settings.from_env(
        env(SECRET_KEY=KEY, WATCH_TIP_READS="120", WATCH_REFUSED="3"), workdir=tmp_path
    )
    assert (chosen.watch_tip_reads, chosen.watch_refused) == (120, 3)
    for name in ("WATCH_TIP_READS", "WATCH_REFUSED"):
        for value in ("0", "-1", "forty", "4.5", "100001", "٤٠"):
            with pytest.raises(SettingsError) as caught:
                Settings.from_env(env(SECRET_KEY=KEY, **{name: value}), workdir=tmp_path)
            assert caught.value.message == (
                f"{PREFIX}{name}: {value!r} is not a whole number from 1 to 100000"
            )
