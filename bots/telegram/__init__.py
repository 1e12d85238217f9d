"""The Telegram adapter: webhook updates in, Bot API calls out, through aiogram's client.

`TelegramChannel` is what ``bots.registry`` builds for a Telegram bot account;
`parse_update` turns one Bot API ``Update`` into an `InboundEvent`.
"""

from bots.telegram.adapter import TelegramChannel, split_utf16, utf16_length
from bots.telegram.updates import parse_body, parse_update

__all__ = ["TelegramChannel", "parse_body", "parse_update", "split_utf16", "utf16_length"]
