"""Staff sign-in for the admin web: passwords, server-side sessions, CSRF tokens, login
throttling and the TOTP second factor (ASVS 5.0 level 2, chapters V6 and V7).

- **Passwords** are argon2id (`services.passwords`, which also holds the policy every new
  password passes). An unknown username is checked against a dummy hash, so it costs the same
  time as a wrong password, and both get the same `LoginRefused`.
- **Initial passwords** (given from the roster, `services.staff`) stop working 72 hours after
  they were given (refused like a wrong password, audited with its own reason), and a session
  signed in with one reaches only the password page (`Step.PASSWORD`) until it is replaced —
  after the authenticator code when the person has one, before enrolling when they must.
- **Sessions** are `WebSession` rows. The cookie carries a random 256-bit token; the row keeps
  only its keyed hash. Every login creates a new row (a token that existed before the login is
  never promoted), and revokes the one the browser presented. A session ends after 30 idle
  minutes or 12 hours in all, judged here on every request; logout revokes the row; a staff
  member found inactive has every session revoked at once; a password change revokes the
  other sessions.
- **CSRF** tokens are a keyed hash of the session's token hash (one per session); before
  login, of a random nonce kept in a separate cookie.
- **Throttling** counts the failed-login audit events (`auth.login_failed`) of the last
  15 minutes, per account (a keyed hash of the typed username, so unknown names are counted
  exactly like real ones and no typed name is stored) and per client address. Past a free
  allowance each further attempt must wait twice as long as the one before, up to 15 minutes
  after the latest failure — never a permanent lockout.
- **TOTP** (RFC 6238: HMAC-SHA1, 30 s, 6 digits, one step either side; each code is good
  once — its time step must be later than the last accepted one). Supervisors and admins
  must enrol before they can do anything else; once a staff member is enrolled, a login is
  complete only after the code (`WebSession.second_factor_at`). The secret is sealed in
  `Staff.totp_secret_sealed`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlencode

from cryptography.fernet import Fernet
from tortoise.queryset import QuerySet

from communepol.clock import utcnow
from communepol.crypto import DecryptionError, Keyring, SecretBox
from communepol.db.models import AuditEvent, Role, Staff, Unit, WebSession
from communepol.errors import CommunepolError, ValidationError
from communepol.i18n import _
from communepol.services import audit
from communepol.services.passwords import (
    PwnedPasswords,
    check_new_password,
    hash_password,
    verify_password,
)
from communepol.text import clean

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen_at is written at most this often: one write per click would be wasted work, and a
# minute is well inside the idle timeout's precision.
TOUCH_INTERVAL = timedelta(seconds=60)

THROTTLE_WINDOW = timedelta(minutes=15)
ACCOUNT_FREE_FAILURES = 5
# A station's officers often share one address behind the same NAT, hence the larger allowance.
ADDRESS_FREE_FAILURES = 20
FIRST_DELAY = timedelta(seconds=5)
MAX_DELAY = THROTTLE_WINDOW

TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_ISSUER = "communepol"
SECOND_FACTOR_ROLES = (Role.SUPERVISOR, Role.ADMIN)

LOGIN_FAILED = "auth.login_failed"
# The audit events that record an accepted TOTP code, with its time step: a code is good once.
TOTP_ACCEPTED = ("auth.totp_enrolled", "auth.second_factor")
LOGIN_THROTTLED = "auth.login_throttled"
# The one answer for an unknown user, a wrong password, a deactivated account and a password
# login for an account without a password (ASVS 6.3.8).
REFUSED = _("Wrong username or password.")
BAD_CODE = _("That code is not right. Try the newest code in your authenticator app.")


class LoginRefused(CommunepolError):
    """Wrong credentials or code; the message is the same whatever was wrong."""

    http_status = 401


class Throttled(CommunepolError):
    """Too many failed attempts lately for this account or address; try again later."""

    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(_("Too many failed attempts. Wait a moment and try again."))
        self.retry_after = retry_after


class Step(StrEnum):
    """What a signed-in staff member must still do before reaching the admin pages."""

    CODE = "code"  # enrolled: type the authenticator code
    PASSWORD = "password"  # noqa: S105 - a step name: signed in with an initial password
    ENROL = "enrol"  # a supervisor or admin without a second factor: enrol first


@dataclass(frozen=True)
class Current:
    """The staff member behind a request, their session, and what they must still do."""

    staff: Staff
    session: WebSession
    step: Step | None

    @property
    def complete(self) -> bool:
        return self.step is None


@dataclass(frozen=True)
class SignedIn:
    """A new session; ``token`` goes into the cookie and nowhere else."""

    current: Current
    token: str


@dataclass(frozen=True)
class TotpEnrolment:
    """A secret offered for enrolment, its otpauth:// URI, and the sealed form the enrolment
    page posts back (bound to the session that asked for it)."""

    secret: str
    uri: str
    pending: str


async def backoff(failures: QuerySet[AuditEvent], free: int, now: datetime) -> int:
    """Seconds to wait before the next attempt, given the failure events of the last
    `THROTTLE_WINDOW` (``failures``, already filtered): none within ``free`` failures, then
    `FIRST_DELAY` doubled at each further one, at most `MAX_DELAY` after the latest. Shared by
    the login and the API's token check."""
    count = await failures.count()
    if count < free:
        return 0
    latest = await failures.order_by("-at").first()
    if latest is None:
        return 0
    delay = min(FIRST_DELAY * 2 ** (count - free), MAX_DELAY)
    remaining = (latest.at + delay - now).total_seconds()
    return math.ceil(remaining) if remaining > 0 else 0


async def end_web_sessions(staff_id: int, now: datetime, *, keep: int | None = None) -> int:
    """Revoke every open web session of a staff member (but the session ``keep``), as of
    ``now``; how many were open. Every way a person's sessions end goes through here:
    logout elsewhere, a password set or reset, deactivation, a manager's "end sessions"."""
    query = WebSession.filter(staff_id=staff_id, revoked_at__isnull=True)
    if keep is not None:
        query = query.exclude(id=keep)
    return await query.update(revoked_at=now)


def normalize_username(value: str) -> str:
    return clean(value).lower()[:64]


# --- TOTP (RFC 6238 over RFC 4226) ------------------------------------------------------------


def new_totp_secret() -> str:
    """160 random bits, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _secret_bytes(secret: str) -> bytes:
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def totp_code(secret: str, counter: int) -> str:
    """The HOTP value of ``counter`` (RFC 4226 §5.3, dynamic truncation), 6 digits."""
    digest = hmac.new(_secret_bytes(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**TOTP_DIGITS).zfill(TOTP_DIGITS)


def totp_counter(moment: datetime) -> int:
    return int(moment.timestamp()) // TOTP_STEP


def totp_step(secret: str, code: str, moment: datetime) -> int | None:
    """The time step whose code ``code`` is, if it is ``moment``'s step or the step before or
    after (a phone clock a little off, or a code typed as it changed); None otherwise."""
    typed = "".join(ch for ch in code if not ch.isspace())
    if len(typed) != TOTP_DIGITS or not typed.isdigit():
        return None
    counter = totp_counter(moment)
    found = None
    for step in (counter - 1, counter, counter + 1):  # all three compared: no early exit
        if hmac.compare_digest(totp_code(secret, step), typed):
            found = step
    return found


def verify_totp(secret: str, code: str, moment: datetime) -> bool:
    return totp_step(secret, code, moment) is not None


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    label = quote(f"{TOTP_ISSUER}:{account}", safe=":@")
    query = urlencode(
        {"secret": secret, "issuer": TOTP_ISSUER, "digits": TOTP_DIGITS, "period": TOTP_STEP}
    )
    return f"otpauth://totp/{label}?{query}"


# --- the service ------------------------------------------------------------------------------


class Auth:
    """Sign-in, sessions and their checks; one per application (built in `setup_admin`)."""

    def __init__(self, keyring: Keyring, *, breaches: PwnedPasswords | None = None) -> None:
        self.keyring = keyring
        # New passwords are checked against a breach corpus too when one is configured.
        self.breaches = breaches
        # Verified against when the username is unknown, so both cost one argon2 check. Made
        # at the first login attempt (whoever it is for), not at start: a hash takes a quarter
        # of a second, and every process and test builds an application.
        self._dummy_hash: str | None = None
        # TOTP secrets get their own key, derived from the session key for this one purpose.
        sub_key = bytes.fromhex(keyring.keyed_hash("session", "totp-secret-sealing"))
        self._totp_box = SecretBox(Fernet(base64.urlsafe_b64encode(sub_key)))

    # tokens

    def token_hash(self, token: str) -> str:
        return self.keyring.keyed_hash("session", "web-session", token)

    def csrf_token(self, session: WebSession) -> str:
        return self.keyring.keyed_hash("session", "csrf", session.token_hash)

    def login_csrf_token(self, nonce: str) -> str:
        return self.keyring.keyed_hash("session", "login-csrf", nonce)

    def check_csrf(self, expected: str, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(expected, given or "")

    def account_key(self, username: str) -> str:
        return self.keyring.keyed_hash("session", "login-account", normalize_username(username))

    # throttling

    async def retry_after(self, username: str, ip: str | None, now: datetime) -> int:
        """Seconds to wait before another attempt for ``username`` from ``ip``; 0: go ahead."""
        recent = AuditEvent.filter(action=LOGIN_FAILED, at__gte=now - THROTTLE_WINDOW)
        waits = [
            await backoff(
                recent.filter(object_id=self.account_key(username)), ACCOUNT_FREE_FAILURES, now
            )
        ]
        if ip:
            waits.append(await backoff(recent.filter(ip=ip), ADDRESS_FREE_FAILURES, now))
        return max(waits)

    async def _throttle(self, username: str, ip: str | None, stage: str) -> None:
        wait = await self.retry_after(username, ip, utcnow())
        if wait:
            await audit.record(
                LOGIN_THROTTLED,
                actor_label="web login",
                object_type="login",
                object_id=self.account_key(username),
                source="web",
                ip=ip,
                data={"stage": stage, "retry_after": wait},
            )
            raise Throttled(wait)

    async def _failed(
        self, username: str, ip: str | None, reason: str, staff: Staff | None
    ) -> LoginRefused:
        await audit.record(
            LOGIN_FAILED,
            actor_label="web login",
            object_type="login",
            object_id=self.account_key(username),
            unit_id=staff.unit_id if staff is not None else None,  # type: ignore[attr-defined]
            source="web",
            ip=ip,
            data={"reason": reason, "staff": staff.id if staff is not None else None},
        )
        return LoginRefused(REFUSED if reason != "bad_code" else BAD_CODE)

    # login, the session checks, logout

    async def _verify(self, stored: str | None, password: str) -> bool:
        """One argon2 check, in a thread: it takes about as long as a hundred webhook
        requests, which must not wait for it."""
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(24))
        return await asyncio.to_thread(verify_password, stored or self._dummy_hash, password)

    def _step(self, staff: Staff, session: WebSession) -> Step | None:
        # The code comes before the forced password change: whoever learnt an initial password
        # must not get to choose the next one without the person's second factor.
        if staff.totp_secret_sealed and session.second_factor_at is None:
            return Step.CODE
        if staff.password_must_change:
            return Step.PASSWORD
        if not staff.totp_secret_sealed and staff.role in SECOND_FACTOR_ROLES:
            return Step.ENROL
        return None

    async def login(
        self,
        username: str,
        password: str,
        *,
        ip: str | None,
        user_agent: str | None = None,
        previous_token: str | None = None,
    ) -> SignedIn:
        """A new session for the staff member whose username and password these are.
        `Throttled` when this account or address failed too often lately; `LoginRefused`
        (the same for every reason) otherwise. The session the browser came with, if any,
        is revoked once the login succeeds: a login never continues an existing session."""
        name = normalize_username(username)
        await self._throttle(name, ip, "password")
        staff = await Staff.get_or_none(username=name) if name else None
        stored = staff.password_hash if staff is not None else None
        matches = await self._verify(stored, password)
        now = utcnow()
        expired = (
            staff is not None
            and staff.password_must_change
            and staff.password_expires_at is not None
            and now >= staff.password_expires_at
        )
        if staff is None or not stored or not matches or not staff.active or expired:
            reason = (
                "unknown_user"
                if staff is None
                else "no_password"
                if not stored
                else "bad_password"
                if not matches
                else "inactive"
                if not staff.active
                else "initial_password_expired"
            )
            raise await self._failed(name, ip, reason, staff)
        if previous_token:
            await self.revoke_token(previous_token, reason="replaced")
        token = secrets.token_urlsafe(32)
        session = await WebSession.create(
            token_hash=self.token_hash(token),
            staff=staff,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_TIMEOUT,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
        step = self._step(staff, session)
        await audit.record(
            "auth.login",
            actor=staff,
            object_type="web_session",
            object_id=session.id,
            unit_id=staff.unit_id,  # type: ignore[attr-defined]
            source="web",
            ip=ip,
            data={"next": step.value if step else "done"},
        )
        return SignedIn(Current(staff, session, step), token)

    async def current(self, token: str | None) -> Current | None:
        """The live session of ``token``, or None — after revoking it if it has timed out or
        its staff member has been deactivated (then every session of theirs)."""
        if not token or len(token) > 100:
            return None
        session = await WebSession.get_or_none(
            token_hash=self.token_hash(token), revoked_at__isnull=True
        ).prefetch_related("staff")
        if session is None:
            return None
        staff = session.staff
        now = utcnow()
        if not staff.active:
            await self.revoke_all(staff, reason="deactivated")
            return None
        if now >= session.expires_at:
            await self._revoke(session, "absolute_timeout", now)
            return None
        if now - session.last_seen_at >= IDLE_TIMEOUT:
            await self._revoke(session, "idle_timeout", now)
            return None
        if now - session.last_seen_at >= TOUCH_INTERVAL:
            await WebSession.filter(id=session.id).update(last_seen_at=now)
            session.last_seen_at = now
        return Current(staff, session, self._step(staff, session))

    async def _revoke(self, session: WebSession, reason: str, now: datetime) -> None:
        changed = await WebSession.filter(id=session.id, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if changed:
            await audit.record(
                "auth.session_ended",
                actor_label="web",
                object_type="web_session",
                object_id=session.id,
                source="web",
                data={"reason": reason, "staff": session.staff_id},  # type: ignore[attr-defined]
            )

    async def revoke_token(self, token: str, *, reason: str) -> None:
        session = await WebSession.get_or_none(
            token_hash=self.token_hash(token), revoked_at__isnull=True
        )
        if session is not None:
            await self._revoke(session, reason, utcnow())

    async def logout(self, current: Current, *, ip: str | None) -> None:
        await WebSession.filter(id=current.session.id).update(revoked_at=utcnow())
        await audit.record(
            "auth.logout",
            actor=current.staff,
            object_type="web_session",
            object_id=current.session.id,
            source="web",
            ip=ip,
        )

    async def revoke_all(self, staff: Staff, *, reason: str, keep: WebSession | None = None) -> int:
        """End every open session of ``staff`` (but ``keep``); how many were open."""
        ended = await end_web_sessions(
            staff.id, utcnow(), keep=keep.id if keep is not None else None
        )
        if ended:
            await audit.record(
                "auth.sessions_revoked",
                actor_label="web",
                object_type="staff",
                object_id=staff.id,
                unit_id=staff.unit_id,  # type: ignore[attr-defined]
                source="web",
                data={"reason": reason, "sessions": ended},
            )
        return ended

    # passwords

    async def change_password(
        self, current: Current, old: str, new: str, repeated: str, *, ip: str | None
    ) -> int:
        """Change the signed-in staff member's password after checking the current one (an
        initial password too: it is what they just signed in with); the new one must pass the
        password policy. The other sessions end. Returns how many ended."""
        staff = current.staff
        await self._throttle(staff.username or "", ip, "password_change")
        if not staff.password_hash or not await self._verify(staff.password_hash, old):
            raise await self._failed(staff.username or "", ip, "bad_password", staff)
        if new != repeated:
            raise ValidationError(_("The two new passwords differ."), field="password")
        if new == old:
            raise ValidationError(
                _("Choose a new password, not the one you have now."), field="password"
            )
        unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
        await check_new_password(
            new, context=(staff.username, staff.full_name, unit.name), breaches=self.breaches
        )
        new_hash = await asyncio.to_thread(hash_password, new)
        await Staff.filter(id=staff.id).update(
            password_hash=new_hash, password_must_change=False, password_expires_at=None
        )
        await audit.record(
            "auth.password_changed",
            actor=staff,
            object_type="staff",
            object_id=staff.id,
            unit_id=staff.unit_id,  # type: ignore[attr-defined]
            source="web",
            ip=ip,
            data={"initial": staff.password_must_change},
        )
        staff.password_must_change = False
        staff.password_expires_at = None
        return await self.revoke_all(staff, reason="password_changed", keep=current.session)

    # the second factor

    def begin_enrolment(self, current: Current) -> TotpEnrolment:
        secret = new_totp_secret()
        pending = self.keyring.box("session").seal_json(
            {"secret": secret, "session": current.session.id}
        )
        account = current.staff.username or str(current.staff.id)
        return TotpEnrolment(secret, provisioning_uri(secret, account), pending)

    def pending_enrolment(self, current: Current, pending: str) -> TotpEnrolment:
        """The enrolment offered by `begin_enrolment` to this session (shown again after a
        wrong code)."""
        try:
            value = self.keyring.box("session").open_json(pending)
        except (DecryptionError, ValueError) as err:
            raise ValidationError(_("Start the set-up again."), field="pending") from err
        if not isinstance(value, dict) or value.get("session") != current.session.id:
            raise ValidationError(_("Start the set-up again."), field="pending")
        secret = str(value["secret"])
        account = current.staff.username or str(current.staff.id)
        return TotpEnrolment(secret, provisioning_uri(secret, account), pending)

    async def finish_enrolment(
        self, current: Current, pending: str, code: str, *, ip: str | None
    ) -> None:
        """Store the offered secret once the staff member has typed a right code from it; the
        session then counts as having passed the second factor."""
        enrolment = self.pending_enrolment(current, pending)
        staff = current.staff
        await self._throttle(staff.username or "", ip, "enrol")
        now = utcnow()
        step = totp_step(enrolment.secret, code, now)
        if step is None:
            raise await self._failed(staff.username or "", ip, "bad_code", staff)
        sealed = self._totp_box.seal(enrolment.secret)
        await Staff.filter(id=staff.id).update(totp_secret_sealed=sealed)
        await WebSession.filter(id=current.session.id).update(second_factor_at=now)
        await audit.record(
            "auth.totp_enrolled",
            actor=staff,
            object_type="staff",
            object_id=staff.id,
            unit_id=staff.unit_id,  # type: ignore[attr-defined]
            source="web",
            ip=ip,
            data={"step": step},
        )

    def totp_secret(self, staff: Staff) -> str | None:
        if not staff.totp_secret_sealed:
            return None
        return self._totp_box.open(staff.totp_secret_sealed)

    async def second_factor(self, current: Current, code: str, *, ip: str | None) -> None:
        """Complete the login with the authenticator code; wrong codes count as failed
        logins (the same throttle as passwords)."""
        staff = current.staff
        secret = self.totp_secret(staff)
        if secret is None:
            return
        await self._throttle(staff.username or "", ip, "code")
        now = utcnow()
        step = totp_step(secret, code, now)
        if step is None or step <= await self._last_totp_step(staff):
            # A code already used (seen over someone's shoulder, or replayed) is refused too.
            raise await self._failed(staff.username or "", ip, "bad_code", staff)
        await WebSession.filter(id=current.session.id).update(second_factor_at=now)
        await audit.record(
            "auth.second_factor",
            actor=staff,
            object_type="web_session",
            object_id=current.session.id,
            unit_id=staff.unit_id,  # type: ignore[attr-defined]
            source="web",
            ip=ip,
            data={"step": step},
        )

    async def _last_totp_step(self, staff: Staff) -> int:
        """The time step of the last code ``staff`` used; -1 if none."""
        event = (
            await AuditEvent.filter(actor_staff_id=staff.id, action__in=TOTP_ACCEPTED)
            .order_by("-id")
            .first()
        )
        step = event.data.get("step") if event is not None else None
        return step if isinstance(step, int) else -1


async def set_password(
    username: str,
    password: str,
    *,
    actor_label: str = "cli",
    breaches: PwnedPasswords | None = None,
) -> Staff:
    """Set a staff member's web password from the server (the CLI); every session of theirs
    ends. `ValidationError` for an unknown username or a password the policy refuses."""
    staff = await Staff.get_or_none(username=normalize_username(username))
    if staff is None:
        raise ValidationError(
            _("no staff member has the username {username!r}"),
            field="username",
            username=username,
        )
    unit = await Unit.get(id=staff.unit_id)  # type: ignore[attr-defined]
    await check_new_password(
        password, context=(staff.username, staff.full_name, unit.name), breaches=breaches
    )
    # Chosen by the operator with the person, not an initial password: no forced change.
    await Staff.filter(id=staff.id).update(
        password_hash=await asyncio.to_thread(hash_password, password),
        password_must_change=False,
        password_expires_at=None,
    )
    ended = await end_web_sessions(staff.id, utcnow())
    await audit.record(
        "auth.password_set",
        actor_label=actor_label,
        object_type="staff",
        object_id=staff.id,
        unit_id=staff.unit_id,  # type: ignore[attr-defined]
        source=actor_label,
        data={"sessions_ended": ended},
    )
    return staff
