"""The bot channel: conversations written once, and one adapter per platform.

Adapters (telegram/, zalo_oa/, zalo_bot/, webchat/) and conversations (resident/, officer/,
groups/) arrive with the bot-channel issue; the core (`communepol`) never imports this package
except in its composition root.
"""
