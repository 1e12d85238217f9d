"""Channel accounts and the pages they carry. Secrets are sealed before they are stored and
opened only by the adapter that sends (`open_secrets`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from communepol.crypto import Keyring
from communepol.db.models import ChannelAccount, ChannelKind, ChannelStatus, Page, PageChannel
from communepol.errors import NotFound, ValidationError
from communepol.ports import Channel, SecretsStore
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
        raise ValidationError("a channel account needs a name", field="name")
    if kind is not ChannelKind.WEBCHAT and not secrets:
        raise ValidationError(f"a {kind.value} account needs its credentials", field="secrets")
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
    link, _ = await PageChannel.get_or_create(page=page, channel_account=account)
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
                raise NotFound("no such channel account")
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
