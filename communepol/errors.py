"""The domain error tree: every error a person can cause or meet, in one place.

::

    CommunepolError                 base; never shown raw to a user
    ├── SettingsError               a bad COMMUNEPOL_* value; start-up stops with its one line
    ├── ValidationError             input that cannot be accepted (web 400 / CLI exit 2 / bot hint)
    │   └── UnitNotFound            a unit code or name that matches nothing
    ├── NotFound                    the object does not exist *or is outside the caller's scope*
    ├── PermissionDenied            the caller may see the object but not do this to it
    ├── Conflict                    the object changed or already exists (web 409)
    └── Unavailable                 a dependency (database, platform) is down; try again (web 503)

Each error carries a ``message`` meant for people: it is already safe to show (no platform
identities, no tip text, no stack). ``message`` is English; ``template`` is the catalog's
msgid it was formatted from and ``params`` its values, so an edge (a web page, a bot reply)
shows it in the reader's language with ``I18n.error_text``. The web maps the tree to HTTP
status codes in one middleware and the CLI maps it to an exit code in one place; bots map it
to a reply.
`NotFound` is deliberately used for out-of-scope objects too, so that an officer of one
commune cannot learn that another commune's tip exists.
"""

from __future__ import annotations

from typing import Any


class CommunepolError(Exception):
    """Base of every error the service raises on purpose. ``message`` is a msgid (marked with
    ``_()`` where it is written) with ``{name}`` fields filled from ``params``."""

    http_status = 500

    def __init__(self, message: str, **params: Any) -> None:
        self.template = message
        self.params = params
        self.message = message.format_map(params) if params else message
        super().__init__(self.message)


class SettingsError(CommunepolError):
    """A configuration value is missing or malformed; the message names the variable."""


class ValidationError(CommunepolError):
    """Input that cannot be accepted; the message says which field and why."""

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, **params: Any) -> None:
        super().__init__(message, **params)
        self.field = field


class UnitNotFound(ValidationError):
    """A unit given by code or name matches no unit."""


class NotFound(CommunepolError):
    """The object does not exist, or it is outside the caller's scope."""

    http_status = 404


class PermissionDenied(CommunepolError):
    """The caller is known but not allowed to do this."""

    http_status = 403


class Conflict(CommunepolError):
    """The object already exists or was changed by someone else."""

    http_status = 409


class Unavailable(CommunepolError):
    """A dependency is down; the caller should retry later."""

    http_status = 503
