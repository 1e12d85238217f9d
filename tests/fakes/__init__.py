"""Fake servers speaking the real wire formats: the platforms (Telegram Bot API, Zalo OA, Zalo
Bot, and a generic channel) and the Pwned Passwords range API (`pwned`)."""
