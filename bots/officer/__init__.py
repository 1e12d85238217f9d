"""The officer conversation, in the same bots residents use: linking a bot identity to the
roster (`link`), writing a post (`post`), sending, updating and ending an alert (`alert`),
approving (`approve`), a post's figures (`stats`), duty shifts (`duty`), tips — lists,
cards and every action on them (`tips`) —, household coverage (`coverage`) and shared household
accounts (`households`).

Each part has its own router; ``router`` combines them and is included in the app's router
next to the resident one. Every command but ``/link`` answers only linked, active staff;
anyone else gets the resident's "not understood", so the commands do not show. Commands have
an English and a Vietnamese spelling (``/post``, ``/dangtin``).
"""

from __future__ import annotations

from bots.conversation import Router
from bots.officer import (
    alert,
    approve,
    coverage,
    duty,
    households,
    link,
    post,
    reveal,
    stats,
    tips,
)

router = Router()
router.include(link.router)
router.include(post.router)
router.include(alert.router)
router.include(approve.router)
router.include(stats.router)
router.include(duty.router)
router.include(tips.router)
router.include(reveal.router)
router.include(coverage.router)
router.include(households.router)

__all__ = ["router"]
