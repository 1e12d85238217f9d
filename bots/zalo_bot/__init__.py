"""Zalo Bot API (the Telegram-like Zalo bot platform): the channel adapter and its update
parser. The fake server the tests talk to is ``tests.fakes.zalo_bot``."""

from bots.zalo_bot.adapter import ZaloBotChannel, render_text
from bots.zalo_bot.updates import parse_body, parse_update

__all__ = ["ZaloBotChannel", "parse_body", "parse_update", "render_text"]
