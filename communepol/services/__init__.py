"""Use cases: the only layer that writes. Each module is one part of the domain; functions are
named by intent (``access_*`` fetches with a scope check, ``check_*`` validates then acts,
``do_*``/verbs change state). Web views, bot conversations, jobs and the CLI call these."""
