"""Channel accounts and the pages they carry. Secrets are sealed before they are stored and
opened only by the adapter that sends (`open_secrets`)."""

from __future__ import annotations

import asyncio
import re
import secrets as secrets_module
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from communepol.crypto import Keyring
from communepol.db import raw
from communepol.db.models import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    Page,
    PageChannel,
    ReceiveMode,
    Staff,
    Unit,
)
from communepol.errors import NotFound, PermissionDenied, ValidationError
from communepol.i18n import _
from communepol.ports import Channel, SecretsStore
from communepol.services import scope
from communepol.text import clean


async def create_channel_account(
    keyring: Keyring,
    *,
    kind: ChannelKind,
    name: str,
    public_handle: str | None = None,
    secrets: dict[str, Any] | None = None,
) -> ChannelAccount:
    name = clean(name)
    if not name:
        raise ValidationError(_("a channel account needs a name"), field="name")
    if kind is not ChannelKind.WEBCHAT and not secrets:
        raise ValidationError(
            _("a {kind} account needs its credentials"), field="secrets", kind=kind.value
        )
    return await ChannelAccount.create(
        kind=kind,
        name=name,
        public_handle=public_handle,
        secrets_sealed=keyring.box("channel-secrets").seal_json(secrets) if secrets else None,
    )


def open_secrets(keyring: Keyring, account: ChannelAccount) -> dict[str, Any]:
    if account.secrets_sealed is None:
        return {}
    value = keyring.box("channel-secrets").open_json(account.secrets_sealed)
    return dict(value)


async def carry_page(account: ChannelAccount, page: Page) -> PageChannel:
    """Make ``account`` carry ``page`` (idempotent)."""
    link, _created = await PageChannel.get_or_create(page=page, channel_account=account)
    return link


class AccountSecrets:
    """`communepol.ports.SecretsStore` over a channel account row: sealed at rest, replaced
    by one conditional UPDATE on ``secrets_version`` so two processes refreshing a Zalo OA
    token at once cannot both win (the loser reloads and uses the winner's pair)."""

    def __init__(self, keyring: Keyring, account_id: int) -> None:
        self._box = keyring.box("channel-secrets")
        self._account_id = account_id

    async def load(self) -> tuple[dict[str, Any], int]:
        account = await ChannelAccount.get(id=self._account_id)
        if account.secrets_sealed is None:
            return {}, account.secrets_version
        return dict(self._box.open_json(account.secrets_sealed)), account.secrets_version

    async def replace(self, secrets: Mapping[str, Any], expected_version: int) -> bool:
        updated = await ChannelAccount.filter(
            id=self._account_id, secrets_version=expected_version
        ).update(
            secrets_sealed=self._box.seal_json(dict(secrets)),
            secrets_version=expected_version + 1,
        )
        return updated == 1


ChannelFactory = Callable[[ChannelAccount, dict[str, Any], SecretsStore], Channel]


class ChannelRegistry:
    """The adapter of each channel account, built on first use from the account's sealed
    secrets by ``factory`` (the composition root passes ``bots.registry.build_channel``) and
    rebuilt when the secrets change. Accounts are re-read at most every ``refresh`` seconds, so
    a webhook burst does not read the account row once per request."""

    def __init__(self, keyring: Keyring, factory: ChannelFactory, *, refresh: float = 5.0):
        self._keyring = keyring
        self._factory = factory
        self._refresh = refresh
        self._entries: dict[int, tuple[ChannelAccount, Channel, float]] = {}
        self._lock = asyncio.Lock()

    async def get(self, account_id: int) -> tuple[ChannelAccount, Channel]:
        """The account and its adapter; `NotFound` for an unknown or paused account."""
        entry = self._entries.get(account_id)
        now = time.monotonic()
        if entry is not None and now - entry[2] < self._refresh:
            return entry[0], entry[1]
        async with self._lock:
            account = await ChannelAccount.get_or_none(id=account_id)
            if account is None or account.status is ChannelStatus.PAUSED:
                await self._drop(account_id)
                raise NotFound(_("no such channel account"))
            entry = self._entries.get(account_id)
            if entry is not None and entry[0].secrets_version == account.secrets_version:
                self._entries[account_id] = (account, entry[1], now)
                return account, entry[1]
            await self._drop(account_id)
            channel = self._factory(
                account,
                open_secrets(self._keyring, account),
                AccountSecrets(self._keyring, account.id),
            )
            self._entries[account_id] = (account, channel, now)
            return account, channel

    def cached(self, account_id: int) -> Channel | None:
        entry = self._entries.get(account_id)
        return entry[1] if entry else None

    async def _drop(self, account_id: int) -> None:
        entry = self._entries.pop(account_id, None)
        if entry is not None:
            await entry[1].close()

    async def close(self) -> None:
        for account_id in list(self._entries):
            await self._drop(account_id)


# --- adding and managing accounts (the `communepol channels` commands) ------------------------

# The credentials each kind needs, by the names the adapters read from the opened secrets.
ZALO_OA_CREDENTIALS = ("app_id", "app_secret", "oa_secret", "access_token", "refresh_token")
CREDENTIALS: dict[ChannelKind, tuple[str, ...]] = {
    ChannelKind.TELEGRAM: ("token",),
    ChannelKind.ZALO_BOT: ("token",),
    ChannelKind.ZALO_OA: ZALO_OA_CREDENTIALS,
    ChannelKind.WEBCHAT: (),
}
# Kinds whose platform can be polled and whose webhook is set through the platform's API.
POLLABLE_KINDS = frozenset({ChannelKind.TELEGRAM, ChannelKind.ZALO_BOT})

# The same shapes the adapters accept (bots.telegram, bots.zalo_bot), checked before anything
# is stored so a typo fails now and not at the first send.
_TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
_ZALO_BOT_TOKEN = re.compile(r"[^\s/?#%:]+:[^\s/?#%]+")
_NO_SPACE = re.compile(r"\S+")


def _label(kind: ChannelKind) -> str:
    """The operator's name of a kind, as in webhook paths and the CLI (zalo_oa → zalo-oa)."""
    return kind.value.replace("_", "-")


def new_account_secrets(kind: ChannelKind, given: Mapping[str, str]) -> dict[str, Any]:
    """The secrets to seal for a new account of ``kind`` from the operator's credentials,
    validated, with a fresh ``webhook_secret`` for the kinds whose webhook carries one.
    Error messages name the credential, never its value."""
    wanted = CREDENTIALS[kind]
    unexpected = sorted(set(given) - set(wanted))
    if unexpected:
        raise ValidationError(
            _("a {kind} account takes no credential named {names}"),
            field="secrets",
            kind=_label(kind),
            names=", ".join(unexpected),
        )
    values = {name: (given.get(name) or "").strip() for name in wanted}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ValidationError(
            _("a {kind} account needs {names}"),
            field="secrets",
            kind=_label(kind),
            names=", ".join(missing),
        )
    if kind is ChannelKind.TELEGRAM and not _TELEGRAM_TOKEN.fullmatch(values["token"]):
        raise ValidationError(
            _("the Telegram bot token is malformed (expected <digits>:<letters, digits, _ or ->)"),
            field="token",
        )
    if kind is ChannelKind.ZALO_BOT and not _ZALO_BOT_TOKEN.fullmatch(values["token"]):
        raise ValidationError(
            _("the Zalo Bot token is malformed (expected <bot id>:<secret>)"), field="token"
        )
    for name, value in values.items():
        if not _NO_SPACE.fullmatch(value):
            raise ValidationError(
                _("the {credential} must not contain spaces"), field=name, credential=name
            )
    result: dict[str, Any] = dict(values)
    if kind in POLLABLE_KINDS:
        # token_urlsafe only uses A-Z a-z 0-9 _ -, which both Telegram and Zalo Bot accept.
        result["webhook_secret"] = secrets_module.token_urlsafe(32)
    return result


async def add_channel_account(
    keyring: Keyring,
    *,
    kind: ChannelKind,
    name: str,
    secrets: dict[str, Any] | None,
    page_slugs: Iterable[str] = (),
    receive_mode: ReceiveMode = ReceiveMode.WEBHOOK,
) -> ChannelAccount:
    """Create an account carrying the pages ``page_slugs``, all in one transaction: an unknown
    slug or a receive mode the kind cannot use raises `ValidationError` and writes nothing."""
    check_receive_mode(kind, receive_mode)
    slugs = list(dict.fromkeys(slug.strip() for slug in page_slugs))
    if kind is ChannelKind.ZALO_OA and len(slugs) > 1:
        raise ValidationError(_("a Zalo OA is exactly one page: give one --page"), field="page")
    async with in_transaction(raw.connection(ChannelAccount).connection_name):
        pages = {page.slug: page for page in await Page.filter(slug__in=slugs)} if slugs else {}
        unknown = [slug for slug in slugs if slug not in pages]
        if unknown:
            raise ValidationError(
                _("no page with slug {slugs}"),
                field="page",
                slugs=", ".join(repr(slug) for slug in unknown),
            )
        account = await create_channel_account(keyring, kind=kind, name=name, secrets=secrets)
        if receive_mode is not account.receive_mode:
            account.receive_mode = receive_mode
            await account.save(update_fields=["receive_mode"])
        for slug in slugs:
            await carry_page(account, pages[slug])
    return account


def check_receive_mode(kind: ChannelKind, mode: ReceiveMode) -> None:
    if mode is ReceiveMode.POLLING and kind not in POLLABLE_KINDS:
        raise ValidationError(
            _("a {kind} account cannot be polled: only telegram and zalo-bot can"),
            field="receive_mode",
            kind=_label(kind),
        )


async def get_channel_account(account_id: int) -> ChannelAccount:
    account = await ChannelAccount.get_or_none(id=account_id)
    if account is None:
        raise NotFound(_("no channel account {account}"), account=account_id)
    return account


async def set_receive_mode(account_id: int, mode: ReceiveMode) -> tuple[ChannelAccount, bool]:
    """Switch the account to ``mode``; the account and whether anything changed."""
    account = await get_channel_account(account_id)
    check_receive_mode(account.kind, mode)
    if account.receive_mode is mode:
        return account, False
    await ChannelAccount.filter(id=account.id).update(receive_mode=mode)
    account.receive_mode = mode
    return account, True


async def set_status(account_id: int, status: ChannelStatus) -> tuple[ChannelAccount, bool]:
    """Pause an account (nothing is sent or received through it), or make it active again —
    also what staff do once a broken account's credentials are fixed. Whether it changed."""
    account = await get_channel_account(account_id)
    if account.status is status:
        return account, False
    changes: dict[str, Any] = {"status": status}
    if status is ChannelStatus.ACTIVE:
        changes.update(last_error=None, last_error_at=None)
    await ChannelAccount.filter(id=account.id).update(**changes)
    account.status = status
    return account, True


@dataclass(frozen=True)
class AccountListing:
    """What an operator may see of an account: never its secrets."""

    id: int
    kind: ChannelKind
    name: str
    status: ChannelStatus
    receive_mode: ReceiveMode
    page_slugs: tuple[str, ...]
    last_error: str | None


async def list_channel_accounts() -> list[AccountListing]:
    accounts = await ChannelAccount.all().order_by("id")
    links = (
        await PageChannel.all()
        .order_by("page__slug")
        .values_list("channel_account_id", "page__slug")
    )
    slugs: dict[int, list[str]] = {}
    for account_id, slug in links:
        slugs.setdefault(int(account_id), []).append(str(slug))
    return [
        AccountListing(
            id=account.id,
            kind=account.kind,
            name=account.name,
            status=account.status,
            receive_mode=account.receive_mode,
            page_slugs=tuple(slugs.get(account.id, ())),
            last_error=account.last_error,
        )
        for account in accounts
    ]


async def accounts_in_scope(staff: Staff) -> set[int]:
    """The channel accounts whose queues a supervisor or admin may see and retry: those
    carrying a page of their subtree; the admin of the top unit also sees accounts that carry
    no page. `PermissionDenied` for an officer. (Rows show ids, kinds, statuses and errors,
    never content or recipients, so an account shared with another district is no leak.)"""
    if staff.role not in scope.APPROVER_ROLES:
        raise PermissionDenied(_("only a supervisor or an admin sees the queues"))
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await scope.require_unit(staff, unit)
    links = await PageChannel.all().select_related("page__unit")
    carried: set[int] = set()
    visible: set[int] = set()
    for link in links:
        account_id = int(link.channel_account_id)  # type: ignore[attr-defined]
        carried.add(account_id)
        if scope.unit_covers(unit, link.page.unit):
            visible.add(account_id)
    if unit.parent_id is None:  # type: ignore[attr-defined]
        every = await ChannelAccount.exclude(id__in=list(carried))
        visible |= {account.id for account in every}
    return visible
