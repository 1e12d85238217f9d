"""Fake platform servers (Telegram Bot API, Zalo OA, Zalo Bot) speaking the real wire formats;
they arrive with the bot-channel work."""
