"""One frozen `Settings`, read once from ``COMMUNEPOL_*`` environment variables.

Every value is validated here, so a bad one stops start-up with a single line that names the
variable (`SettingsError`) instead of failing later, deep inside a request. Nothing reads the
environment anywhere else: the composition root receives a `Settings` and passes it on.

The table of variables (`VARIABLES`) is also what the README's configuration table is
checked against, so the two cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from communepol.errors import SettingsError

PREFIX = "COMMUNEPOL_"
SUPPORTED_LOCALES = ("vi", "en")
ENVIRONMENTS = ("development", "production")
SECRET_KEY_MIN_LENGTH = 32


@dataclass(frozen=True)
class Variable:
    """One documented environment variable."""

    name: str
    default: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "ENV", "development", "`development` or `production`; production demands a secret key"
    ),
    Variable(
        "DATABASE_URL",
        "sqlite://communepol.sqlite3",
        "`sqlite://PATH` (embedded, one process) or `postgres://user:pass@host:port/db`",
    ),
    Variable(
        "SECRET_KEY",
        "(generated into SECRET_KEY_FILE outside production)",
        "at least 32 characters; keys for stored secrets, the vault and sessions derive from it",
    ),
    Variable(
        "SECRET_KEY_FILE",
        ".communepol-secret",
        "where a development/demo secret key is generated and kept (mode 0600)",
    ),
    Variable("PUBLIC_BASE_URL", "http://127.0.0.1:8080", "the URL residents and platforms reach"),
    Variable("HOST", "127.0.0.1", "address `serve` listens on"),
    Variable("PORT", "8080", "port `serve` listens on"),
    Variable("TIMEZONE", "Asia/Ho_Chi_Minh", "timezone for people: schedules, dates shown"),
    Variable("DEFAULT_LOCALE", "vi", "language when a person has not chosen one (`vi` or `en`)"),
    Variable("DATA_DIR", "communepol-data", "attachments and uploaded files"),
    Variable("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Variable("TELEGRAM_API_BASE", "https://api.telegram.org", "Telegram Bot API server"),
    Variable("ZALO_OA_API_BASE", "https://openapi.zalo.me", "Zalo Official Account Open API"),
    Variable("ZALO_OAUTH_API_BASE", "https://oauth.zaloapp.com", "Zalo OAuth v4 server"),
    Variable("ZALO_BOT_API_BASE", "https://bot-api.zaloplatforms.com", "Zalo Bot API server"),
    Variable(
        "TELEGRAM_SEND_RATE",
        "30",
        "messages per second per Telegram bot (1-1000); above 30, broadcasts are sent as paid "
        "broadcasts (allow_paid_broadcast, 0.1 Star each)",
    ),
    Variable(
        "TRUSTED_PROXIES",
        "",
        "comma-separated IP addresses of the reverse proxies whose X-Forwarded-For is believed "
        "(login throttling and the audit trail); empty: the peer address is the client",
    ),
    Variable(
        "PWNED_PASSWORDS_URL",
        "",
        "a Pwned Passwords range API (e.g. `https://api.pwnedpasswords.com`) that new web "
        "passwords are checked against (k-anonymity: only 5 hex digits of the SHA-1 leave); "
        "empty: off, only the local list of common passwords applies",
    ),
    Variable(
        "WATCH_TIP_READS",
        "40",
        "the breach watch alerts when one account reads more distinct tips than this within "
        "10 minutes (1-100000)",
    ),
    Variable(
        "WATCH_REFUSED",
        "5",
        "the breach watch alerts when one account is refused another unit's tips more often "
        "than this within 10 minutes (1-100000)",
    ),
)
_DEFAULTS = {v.name: v.default for v in VARIABLES}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build it with `Settings.from_env` (or directly in tests)."""

    secret_key: str = field(repr=False)
    env: str = "development"
    database_url: str = "sqlite://communepol.sqlite3"
    public_base_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    timezone: str = "Asia/Ho_Chi_Minh"
    default_locale: str = "vi"
    data_dir: Path = Path("communepol-data")
    log_level: str = "INFO"
    telegram_api_base: str = "https://api.telegram.org"
    zalo_oa_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_api_base: str = "https://oauth.zaloapp.com"
    zalo_bot_api_base: str = "https://bot-api.zaloplatforms.com"
    telegram_send_rate: float = 30.0
    trusted_proxies: tuple[str, ...] = ()
    pwned_passwords_url: str = ""
    watch_tip_reads: int = 40
    watch_refused: int = 5

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, workdir: Path | None = None
    ) -> Settings:
        """Read and validate every ``COMMUNEPOL_*`` variable; raise `SettingsError` on the first
        bad one. ``workdir`` is where relative defaults (the SQLite file, the secret key file)
        live; it defaults to the current directory."""
        env_map = os.environ if environ is None else environ
        base = Path.cwd() if workdir is None else workdir

        def raw(name: str) -> str:
            value = env_map.get(PREFIX + name)
            if value is None or value.strip() == "":
                return _DEFAULTS[name]
            return value.strip()

        env = _choice("ENV", raw("ENV").lower(), ENVIRONMENTS)
        database_url = _database_url(raw("DATABASE_URL"), base)
        secret_key = _secret_key(env_map, env, base / raw("SECRET_KEY_FILE"))
        return cls(
            secret_key=secret_key,
            env=env,
            database_url=database_url,
            public_base_url=_http_url("PUBLIC_BASE_URL", raw("PUBLIC_BASE_URL")),
            host=raw("HOST"),
            port=_port(raw("PORT")),
            timezone=_timezone(raw("TIMEZONE")),
            default_locale=_choice("DEFAULT_LOCALE", raw("DEFAULT_LOCALE"), SUPPORTED_LOCALES),
            data_dir=base / raw("DATA_DIR"),
            log_level=_choice("LOG_LEVEL", raw("LOG_LEVEL").upper(), _LOG_LEVELS),
            telegram_api_base=_http_url("TELEGRAM_API_BASE", raw("TELEGRAM_API_BASE")),
            zalo_oa_api_base=_http_url("ZALO_OA_API_BASE", raw("ZALO_OA_API_BASE")),
            zalo_oauth_api_base=_http_url("ZALO_OAUTH_API_BASE", raw("ZALO_OAUTH_API_BASE")),
            zalo_bot_api_base=_http_url("ZALO_BOT_API_BASE", raw("ZALO_BOT_API_BASE")),
            telegram_send_rate=_rate(raw("TELEGRAM_SEND_RATE")),
            trusted_proxies=_addresses("TRUSTED_PROXIES", raw("TRUSTED_PROXIES")),
            pwned_passwords_url=_optional_http_url(
                "PWNED_PASSWORDS_URL", raw("PWNED_PASSWORDS_URL")
            ),
            watch_tip_reads=_threshold("WATCH_TIP_READS", raw("WATCH_TIP_READS")),
            watch_refused=_threshold("WATCH_REFUSED", raw("WATCH_REFUSED")),
        )


def _fail(name: str, reason: str) -> SettingsError:
    return SettingsError(f"{PREFIX}{name}: {reason}")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(name, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(name, f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _optional_http_url(name: str, value: str) -> str:
    """An http(s) URL, or empty for a feature that is off."""
    return _http_url(name, value) if value else ""


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise _fail("PORT", f"{value!r} is not a port number (1-65535)")
    return int(value)


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not 1 <= rate <= 1000:
        raise _fail("TELEGRAM_SEND_RATE", f"{value!r} is not a rate from 1 to 1000 per second")
    return rate


MAX_THRESHOLD = 100_000


def _threshold(name: str, value: str) -> int:
    """A count above which the breach watch alerts: a whole number, at least 1."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_THRESHOLD:
        raise _fail(name, f"{value!r} is not a whole number from 1 to {MAX_THRESHOLD}")
    return int(value)


def _addresses(name: str, value: str) -> tuple[str, ...]:
    """IP addresses, comma-separated, each in its canonical form ("::1", "10.0.0.2")."""
    found = []
    for item in value.split(","):
        if not item.strip():
            continue
        try:
            found.append(str(ipaddress.ip_address(item.strip())))
        except ValueError as err:
            raise _fail(name, f"{item.strip()!r} is not an IP address") from err
    return tuple(found)


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise _fail("TIMEZONE", f"{value!r} is not a known timezone") from err
    return value


def _database_url(value: str, base: Path) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("sqlite", "postgres", "postgresql", "asyncpg", "psycopg"):
        raise _fail("DATABASE_URL", f"must start with sqlite:// or postgres://, got {scheme!r}")
    if scheme == "sqlite":
        if not rest:
            raise _fail("DATABASE_URL", "sqlite:// needs a file path or :memory:")
        path, _, query = rest.partition("?")
        if path != ":memory:" and not Path(path).is_absolute():
            path = str(base / path)
        return f"sqlite://{path}" + (f"?{query}" if query else "")
    parts = urlsplit(value)
    if not parts.hostname or not parts.path.strip("/"):
        raise _fail("DATABASE_URL", "a postgres URL needs a host and a database name")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as err:
        raise _fail("DATABASE_URL", "the port in the URL is not a number") from err
    return value


def _secret_key(env_map: Mapping[str, str], env: str, key_file: Path) -> str:
    given = env_map.get(PREFIX + "SECRET_KEY", "").strip()
    if given:
        if len(given) < SECRET_KEY_MIN_LENGTH:
            raise _fail("SECRET_KEY", f"must be at least {SECRET_KEY_MIN_LENGTH} characters long")
        return given
    if env == "production":
        raise _fail("SECRET_KEY", "is required when COMMUNEPOL_ENV=production")
    return _stored_secret_key(key_file)


def _stored_secret_key(key_file: Path) -> str:
    """Development and demo: keep one generated key in a file so restarts can still decrypt
    what the previous run stored."""
    try:
        if key_file.exists():
            key = key_file.read_text(encoding="ascii").strip()
            if len(key) < SECRET_KEY_MIN_LENGTH:
                raise _fail("SECRET_KEY_FILE", f"{key_file} holds a key that is too short")
            return key
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key + "\n")
        return key
    except (OSError, UnicodeDecodeError) as err:
        raise _fail("SECRET_KEY_FILE", f"cannot read or create {key_file}: {err}") from err
