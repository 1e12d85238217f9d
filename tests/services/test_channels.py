"""Channel accounts: credentials are sealed at rest and open only with the service's key."""

from __future__ import annotations

import pytest
from tortoise.context import TortoiseContext

from communepol.crypto import DecryptionError, Keyring
from communepol.db.models import ChannelAccount, ChannelKind
from communepol.errors import ValidationError
from communepol.services.channels import create_channel_account, open_secrets

KEYRING = Keyring("c" * 40)
TOKEN = "123456:SENTINEL-BOT-TOKEN"


async def test_bot_token_is_sealed_in_the_database(db: TortoiseContext) -> None:
    account = await create_channel_account(
        KEYRING, kind=ChannelKind.TELEGRAM, name="Công an tỉnh Đắk Lắk", secrets={"token": TOKEN}
    )
    stored = await ChannelAccount.get(id=account.id)
    assert stored.secrets_sealed is not None and "SENTINEL" not in stored.secrets_sealed
    assert open_secrets(KEYRING, stored) == {"token": TOKEN}
    with pytest.raises(DecryptionError):
        open_secrets(Keyring("d" * 40), stored)


async def test_platform_accounts_need_credentials(db: TortoiseContext) -> None:
    with pytest.raises(ValidationError):
        await create_channel_account(KEYRING, kind=ChannelKind.ZALO_OA, name="OA xã Ea Kar")
    webchat = await create_channel_account(KEYRING, kind=ChannelKind.WEBCHAT, name="Web chat")
    assert open_secrets(KEYRING, webchat) == {}
    assert await ChannelAccount.all().count() == 1
