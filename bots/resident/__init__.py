"""The resident conversation, on every platform: language, help and menu; following pages with
consent and stopping; reading posts and procedures; "my data" and "delete me"; tips to the
police, "my tips" and adding to a tip; a shared household account's households and relays.

Each part has its own router (`follow`, `mydata`, `tip`, `menu`); ``router`` combines them and
is what the app runs. Commands have an English and a Vietnamese spelling (``/follow``,
``/theodoi``), keywords are matched folded ("theo dõi", "THEO DOI").
"""

from __future__ import annotations

from bots.conversation import Router
from bots.resident import follow, household, menu, mydata, tip
from bots.resident.common import LANGUAGE_NAMES

router = Router()
router.include(follow.router)
router.include(mydata.router)
router.include(tip.router)
router.include(household.router)
router.include(menu.router)

__all__ = ["LANGUAGE_NAMES", "router"]
