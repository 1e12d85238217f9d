"""Zalo Official Account channel: the adapter (`ZaloOAChannel`), the webhook parser (`parse`)
and the signature check. Built by the bot registry from a channel account's secrets."""

from bots.zalo_oa.adapter import ZaloOAChannel
from bots.zalo_oa.events import BUTTON_PREFIX, parse

__all__ = ["BUTTON_PREFIX", "ZaloOAChannel", "parse"]
