"""The Zalo OA webhook signature: ``X-ZEvent-Signature: mac=<hex>`` where
hex = sha256(app_id + raw_body + timestamp + OA secret key).

The hash covers the exact bytes received, so nothing here re-serialises the JSON; ``app_id`` and
``timestamp`` are the body's own literal text (a JSON number stays the digits that were sent).
The OA secret key is not the app secret: the app secret only ever goes to the OAuth host.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta

from bots.zalo_oa.events import load_body
from communepol.errors import ValidationError
from communepol.ports import WebhookRejected, WebhookRequest

SIGNATURE_HEADER = "X-ZEvent-Signature"
TIMESTAMP_HEADER = "X-ZEvent-Timestamp"

# Zalo retries a webhook for about 12 hours; a day leaves room without accepting old replays.
MAX_AGE = timedelta(hours=24)
# Clocks drift; more than this ahead of ours is not a retry of anything.
MAX_AHEAD = timedelta(minutes=10)

_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def signature_hex(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    """The lower-case hex digest the header carries after ``mac=``."""
    material = app_id.encode() + body + timestamp.encode() + oa_secret.encode()
    return hashlib.sha256(material).hexdigest()


def check_webhook(request: WebhookRequest, *, app_id: str, oa_secret: str, now: datetime) -> None:
    """Raise `WebhookRejected` unless ``request`` is a fresh, correctly signed event of
    ``app_id``. The messages name the failed check, never a value."""
    given = request.header(SIGNATURE_HEADER)
    if not given:
        raise WebhookRejected("the webhook carries no signature")
    given = given.strip()
    if given[:4].lower() == "mac=":
        given = given[4:]
    given = given.strip().lower()
    if not _HEX_SHA256.fullmatch(given):
        raise WebhookRejected("the webhook signature is malformed")

    try:
        envelope = load_body(request.body)
    except ValidationError:
        raise WebhookRejected("the webhook body is not JSON") from None
    if not isinstance(envelope, dict):
        raise WebhookRejected("the webhook body is not a JSON object")
    body_app_id = envelope.get("app_id")
    if not isinstance(body_app_id, str) or not body_app_id:
        raise WebhookRejected("the webhook body names no app")
    timestamp = envelope.get("timestamp")
    if not isinstance(timestamp, str) or not timestamp:
        # A few senders put the timestamp in a header instead of the body.
        timestamp = request.header(TIMESTAMP_HEADER)
    if not timestamp:
        raise WebhookRejected("the webhook carries no timestamp")

    expected = signature_hex(body_app_id, request.body, timestamp, oa_secret)
    if not hmac.compare_digest(expected, given):
        raise WebhookRejected("the webhook signature does not match")
    # Checked after the signature so that a forged body learns nothing about our app id.
    if body_app_id != app_id:
        raise WebhookRejected("the webhook is for another app")
    sent_at = _instant(timestamp)
    if sent_at is None or not now - MAX_AGE <= sent_at <= now + MAX_AHEAD:
        raise WebhookRejected("the webhook timestamp is outside the accepted window")


def _instant(timestamp: str) -> datetime | None:
    """Zalo's timestamp is epoch milliseconds; anything else (ZNS's literal "ZNS") is refused."""
    text = timestamp.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        return None
    try:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


__all__ = [
    "MAX_AGE",
    "MAX_AHEAD",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "check_webhook",
    "signature_hex",
]
