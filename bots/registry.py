"""Which adapter serves which kind of channel account: `channel_factory` is what the
composition root gives `communepol.services.channels.ChannelRegistry`."""

from __future__ import annotations

from typing import Any

from bots.telegram import TelegramChannel
from bots.webchat import WebchatChannel
from bots.zalo_bot import ZaloBotChannel
from bots.zalo_oa import ZaloOAChannel
from communepol.db.models import ChannelAccount, ChannelKind
from communepol.ports import Channel, SecretsStore
from communepol.services.channels import ChannelFactory
from communepol.settings import Settings
from communepol.web.chathub import WebchatHub

FREE_TELEGRAM_RATE = 30.0


def channel_factory(settings: Settings, hub: WebchatHub) -> ChannelFactory:
    def build(account: ChannelAccount, secrets: dict[str, Any], store: SecretsStore) -> Channel:
        if account.kind is ChannelKind.TELEGRAM:
            return TelegramChannel(
                account.id,
                secrets,
                api_base=settings.telegram_api_base,
                paid_broadcast=settings.telegram_send_rate > FREE_TELEGRAM_RATE,
            )
        if account.kind is ChannelKind.ZALO_OA:
            return ZaloOAChannel(
                account.id,
                secrets,
                api_base=settings.zalo_oa_api_base,
                oauth_base=settings.zalo_oauth_api_base,
                store=store,
            )
        if account.kind is ChannelKind.ZALO_BOT:
            return ZaloBotChannel(account.id, secrets, api_base=settings.zalo_bot_api_base)
        return WebchatChannel(account.id, hub)

    return build
