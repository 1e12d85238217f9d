"""Channel accounts: the platform identities the service speaks through (a Telegram bot, a Zalo
OA, a Zalo Bot, the built-in web chat), and which pages each carries.

Secrets (bot tokens, OA access/refresh tokens, app and OA secret keys, webhook secrets) live
sealed in ``secrets_sealed`` under the ``channel-secrets`` key. ``secrets_version`` grows by
one on every change so that a Zalo OA token refresh — whose refresh token is single-use — can
save the new pair with one conditional update and detect a concurrent refresh.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.pages import Page


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"
    ZALO_OA = "zalo_oa"
    ZALO_BOT = "zalo_bot"
    WEBCHAT = "webchat"


class ChannelStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    BROKEN = "broken"


class ReceiveMode(StrEnum):
    WEBHOOK = "webhook"  # the platform POSTs to /webhooks/{kind}/{id}
    POLLING = "polling"  # no public URL: the service asks the platform (Telegram, Zalo Bot)


class ChannelAccount(Model):
    id = fields.IntField(primary_key=True)
    kind = fields.CharEnumField(ChannelKind, max_length=16)
    name = fields.CharField(max_length=200)
    public_handle = fields.CharField(max_length=200, null=True)
    secrets_sealed = fields.TextField(null=True)
    secrets_version = fields.IntField(default=0)
    token_expires_at = fields.DatetimeField(null=True)
    status = fields.CharEnumField(ChannelStatus, max_length=16, default=ChannelStatus.ACTIVE)
    receive_mode = fields.CharEnumField(ReceiveMode, max_length=16, default=ReceiveMode.WEBHOOK)
    last_error = fields.CharField(max_length=500, null=True)
    last_error_at = fields.DatetimeField(null=True)
    last_webhook_at = fields.DatetimeField(null=True)
    # A Zalo OA's promotion messages per calendar month, as its package allows (staff set it;
    # the platform's numbers change). Broadcasts are planned within it; None: not limited.
    monthly_promotion_quota = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "channel_account"

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


class PageChannel(Model):
    """A page carried by a channel account (one Telegram bot may carry all pages of a province)."""

    id = fields.IntField(primary_key=True)
    page: fields.ForeignKeyRelation[Page] = fields.ForeignKeyField(
        "communepol.Page", related_name="channels", on_delete=fields.CASCADE
    )
    channel_account: fields.ForeignKeyRelation[ChannelAccount] = fields.ForeignKeyField(
        "communepol.ChannelAccount", related_name="pages", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "page_channel"
        unique_together = (("page", "channel_account"),)
