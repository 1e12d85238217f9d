"""Channel accounts and the pages they carry. Secrets are sealed before they are stored and
opened only by the adapter that sends (`open_secrets`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from communepol.crypto import Keyring
from communepol.db.models import ChannelAccount, ChannelKind, Page, PageChannel
from communepol.errors import ValidationError
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
