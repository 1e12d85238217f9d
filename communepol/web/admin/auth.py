"""Sign-in for the admin web: the session cookie, the middleware every /admin request passes,
and the login, second-factor, enrolment, password and logout views.

The middleware, in order: find the session of the cookie (`Auth.current` judges timeouts and
deactivation on every request); for POST/PUT/PATCH/DELETE, refuse with 403 unless the Origin
(or, lacking it, the Referer) is this site and the form's CSRF token is the session's (before
login: the login nonce's); send a visitor without a session to the login page, and one who
must still type a code, replace an initial password or enrol to that page; mark every answer
``no-store``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

import segno
from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import Markup

from communepol import keys
from communepol.errors import CommunepolError, NotFound, PermissionDenied, ValidationError
from communepol.i18n import SUPPORTED_LOCALES, _
from communepol.services.auth import LoginRefused, Step, Throttled, TotpEnrolment
from communepol.web.admin.shell import (
    CURRENT,
    LOGIN_NONCE,
    auth_of,
    client_ip,
    current_of,
    error_text,
    render,
    translate,
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes a visitor without a session may reach.
PUBLIC_ROUTES = frozenset({"admin-login"})
# The only routes open while a step of the login is missing (logout always is).
STEP_ROUTES = {
    Step.CODE: "admin-login-code",
    Step.PASSWORD: "admin-password",
    Step.ENROL: "admin-totp",
}
STEP_PATHS = {
    Step.CODE: "/admin/login/code",
    Step.PASSWORD: "/admin/password",
    Step.ENROL: "/admin/totp",
}
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
# Forms that carry a file (the post editor, a new alert's photo, a households CSV), each with
# the service's limit for its file in MB. For a signed-in staff member their body may reach
# UPLOAD_REQUEST_MAX_BYTES instead of the application's 1 MiB: the form is read here for its
# CSRF token, so a sub-application's own limit would never apply. The file itself is held to
# the service's limit (5 MB for media, what a Zalo OA takes; 2 MB for a CSV); the margin above
# it lets a larger file reach the view, which refuses it next to its field and keeps what was
# typed. Only past this ceiling is the request refused whole (413).
UPLOAD_ROUTES = {
    "admin-post-create": 5,
    "admin-post-save": 5,
    "admin-alert-issue": 5,
    "admin-households-upload": 2,
}
UPLOAD_REQUEST_MAX_BYTES = 32 * 1024 * 1024


def _secure(request: web.Request) -> bool:
    return request.config_dict[keys.SETTINGS].public_base_url.startswith("https://")


def session_cookie_name(request: web.Request) -> str:
    # Behind https the __Host- prefix makes the browser refuse the cookie unless it is Secure,
    # has Path=/ and no Domain — no subdomain or plain-http page can plant or shadow it. On
    # plain http (development, tests) a Secure cookie would never come back and __Host-
    # requires Secure, so there the cookie has neither; everything else is the same.
    return "__Host-communepol" if _secure(request) else "communepol"


def login_cookie_name(request: web.Request) -> str:
    return "__Host-communepol-login" if _secure(request) else "communepol-login"


def _set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    # No Max-Age: a browser session cookie; the server decides when the session ends.
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="Strict", secure=_secure(request)
    )


def _clear_cookie(response: web.StreamResponse, request: web.Request, name: str) -> None:
    response.del_cookie(name, path="/", secure=_secure(request), samesite="Strict")


def _same_origin(request: web.Request) -> bool:
    allowed = {urlsplit(request.config_dict[keys.SETTINGS].public_base_url).netloc, request.host}
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin != "null" and urlsplit(origin).netloc in allowed
    referer = request.headers.get("Referer")
    return referer is not None and urlsplit(referer).netloc in allowed


async def _form_token(request: web.Request) -> str | None:
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the view reads the same form again
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return request.headers.get("X-CSRF-Token")


def _forbidden(request: web.Request) -> web.Response:
    return web.Response(
        text=translate(request, _("This form has expired or did not come from this site.")),
        status=403,
        content_type="text/plain",
        charset="utf-8",
    )


def redirect(path: str) -> web.Response:
    """303 See Other: after a form, the browser fetches ``path`` with GET."""
    return web.Response(status=303, headers={"Location": path})


def _decorate(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Cache-Control"] = "no-store"
    # Our own forms must carry an Origin: under the site-wide no-referrer policy a browser
    # sends "Origin: null" with a form.
    response.headers["Referrer-Policy"] = "same-origin"
    chosen = request.query.get("lang")
    if chosen in SUPPORTED_LOCALES and request.cookies.get("lang") != chosen:
        response.set_cookie(
            "lang",
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=_secure(request),
        )


@web.middleware
async def admin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await _admit(request, handler)
    except web.HTTPException as exc:
        _decorate(request, exc)
        raise
    _decorate(request, response)
    return response


async def _admit(request: web.Request, handler: Handler) -> web.StreamResponse:
    auth = auth_of(request)
    token = request.cookies.get(session_cookie_name(request))
    current = await auth.current(token)
    if current is not None:
        request[CURRENT] = current
    nonce = request.cookies.get(login_cookie_name(request))
    if nonce:
        request[LOGIN_NONCE] = nonce
    route = request.match_info.route.name or ""
    upload = current is not None and route in UPLOAD_ROUTES
    if upload:
        # A clone before anything reads the body: the view gets it, and its form, from here.
        request = request.clone(client_max_size=UPLOAD_REQUEST_MAX_BYTES)
    try:
        if request.method in UNSAFE_METHODS and not await _csrf_ok(request, route):
            return _forbidden(request)
    except web.HTTPRequestEntityTooLarge:
        if not upload:
            raise
        message = translate(
            request,
            _("The file is too large: attach one of at most {size} MB."),
            size=UPLOAD_ROUTES[route],
        )
        return await render(request, "admin/error.html", {"message": message}, status=413)
    if current is None and route not in PUBLIC_ROUTES:
        response = (
            redirect("/admin/login")
            if request.method in ("GET", "HEAD")
            else web.Response(status=401, text="", content_type="text/plain")
        )
        if token:
            _clear_cookie(response, request, session_cookie_name(request))
        return response
    if (
        current is not None
        and current.step is not None
        and route not in (STEP_ROUTES[current.step], "admin-logout")
    ):
        return redirect(STEP_PATHS[current.step])
    try:
        return await handler(request)
    except CommunepolError as err:
        return await render(
            request,
            "admin/error.html",
            {"message": _error_text(request, err)},
            status=err.http_status,
        )


def _error_text(request: web.Request, err: CommunepolError) -> str:
    if isinstance(err, NotFound):
        # Also what another commune's page says: existence does not leak.
        return translate(request, _("There is nothing here, or it is outside your unit."))
    if isinstance(err, PermissionDenied):
        return translate(request, _("Your account may not do this."))
    return error_text(request, err)


async def _csrf_ok(request: web.Request, route: str) -> bool:
    if not _same_origin(request):
        return False
    given = await _form_token(request)
    auth = auth_of(request)
    current = request.get(CURRENT)
    if current is not None and route not in PUBLIC_ROUTES:
        return auth.check_csrf(auth.csrf_token(current.session), given)
    nonce = request.get(LOGIN_NONCE)
    return nonce is not None and auth.check_csrf(auth.login_csrf_token(nonce), given)


def _next_path(step: Step | None) -> str:
    return STEP_PATHS[step] if step is not None else "/admin/"


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _throttled(
    request: web.Request, err: Throttled, template: str, **context: Any
) -> web.Response:
    response = await render(
        request, template, {"error": error_text(request, err), **context}, status=429
    )
    response.headers["Retry-After"] = str(err.retry_after)
    return response


# --- login and logout --------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.StreamResponse:
    current = request.get(CURRENT)
    if current is not None:
        return redirect(_next_path(current.step))
    nonce = request.get(LOGIN_NONCE)
    if nonce is None:
        nonce = secrets.token_urlsafe(32)
        request[LOGIN_NONCE] = nonce
    response = await render(request, "admin/login.html", {"username": "", "error": None})
    _set_cookie(response, request, login_cookie_name(request), nonce)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = _field(form, "username")
    auth = auth_of(request)
    try:
        signed_in = await auth.login(
            username,
            _field(form, "password"),
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent"),
            previous_token=request.cookies.get(session_cookie_name(request)),
        )
    except Throttled as err:
        return await _throttled(request, err, "admin/login.html", username=username)
    except LoginRefused as err:
        return await render(
            request,
            "admin/login.html",
            {"username": username, "error": error_text(request, err)},
            status=401,
        )
    response = redirect(_next_path(signed_in.current.step))
    _set_cookie(response, request, session_cookie_name(request), signed_in.token)
    _clear_cookie(response, request, login_cookie_name(request))
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    await auth_of(request).logout(current_of(request), ip=client_ip(request))
    response = redirect("/admin/login")
    _clear_cookie(response, request, session_cookie_name(request))
    return response


# --- the second factor ---------------------------------------------------------------------


async def code_form(request: web.Request) -> web.StreamResponse:
    current = current_of(request)
    if current.step is not Step.CODE:
        return redirect(_next_path(current.step))
    return await render(request, "admin/code.html", {"error": None})


async def code(request: web.Request) -> web.StreamResponse:
    current = current_of(request)
    form = await request.post()
    try:
        await auth_of(request).second_factor(current, _field(form, "code"), ip=client_ip(request))
    except Throttled as err:
        return await _throttled(request, err, "admin/code.html")
    except LoginRefused as err:
        return await render(
            request, "admin/code.html", {"error": error_text(request, err)}, status=401
        )
    return redirect("/admin/")


def _enrolment_context(enrolment: TotpEnrolment) -> dict[str, Any]:
    qr = segno.make(enrolment.uri, error="m")
    grouped = " ".join(enrolment.secret[i : i + 4] for i in range(0, len(enrolment.secret), 4))
    return {
        "enrolment": enrolment,
        "secret_grouped": grouped,
        # segno's SVG is built from the URI alone: no text of ours inside, no script, no style.
        "qr_svg": Markup(qr.svg_inline(scale=5, dark="#000", light="#fff")),  # noqa: S704
    }


async def totp_form(request: web.Request) -> web.StreamResponse:
    current = current_of(request)
    if current.staff.totp_secret_sealed:
        return await render(request, "admin/totp.html", {"enrolled": True, "error": None})
    enrolment = auth_of(request).begin_enrolment(current)
    return await render(
        request,
        "admin/totp.html",
        {"enrolled": False, "error": None, **_enrolment_context(enrolment)},
    )


async def totp(request: web.Request) -> web.StreamResponse:
    current = current_of(request)
    if current.staff.totp_secret_sealed:
        return redirect("/admin/totp")
    form = await request.post()
    auth = auth_of(request)
    pending = _field(form, "pending")
    enrolment = auth.pending_enrolment(current, pending)
    try:
        await auth.finish_enrolment(current, pending, _field(form, "code"), ip=client_ip(request))
    except (LoginRefused, Throttled) as err:
        response = await render(
            request,
            "admin/totp.html",
            {
                "enrolled": False,
                "error": error_text(request, err),
                **_enrolment_context(enrolment),
            },
            status=err.http_status,
        )
        if isinstance(err, Throttled):
            response.headers["Retry-After"] = str(err.retry_after)
        return response
    return redirect("/admin/")


# --- password ----------------------------------------------------------------------------------


def _password_context(request: web.Request, **context: Any) -> dict[str, Any]:
    # Signed in with an initial password: the page says why it is the only one open.
    return {"forced": current_of(request).step is Step.PASSWORD, **context}


async def password_form(request: web.Request) -> web.StreamResponse:
    return await render(
        request, "admin/password.html", _password_context(request, error=None, done=False)
    )


async def password(request: web.Request) -> web.StreamResponse:
    current = current_of(request)
    form = await request.post()
    context = _password_context(request)
    try:
        ended = await auth_of(request).change_password(
            current,
            _field(form, "current"),
            _field(form, "new"),
            _field(form, "repeat"),
            ip=client_ip(request),
        )
    except Throttled as err:
        return await _throttled(request, err, "admin/password.html", done=False, **context)
    except (LoginRefused, ValidationError) as err:
        return await render(
            request,
            "admin/password.html",
            {"error": error_text(request, err), "done": False, **context},
            status=err.http_status if isinstance(err, LoginRefused) else 400,
        )
    if context["forced"]:
        # On to the rest of the login: the middleware sends a supervisor on to enrolment.
        return redirect("/admin/")
    return await render(
        request, "admin/password.html", {"error": None, "done": True, "ended": ended, **context}
    )


def setup_auth_routes(admin: web.Application) -> None:
    admin.router.add_get("/login", login_form, name="admin-login")
    admin.router.add_post("/login", login, name="admin-login")
    admin.router.add_post("/logout", logout, name="admin-logout")
    admin.router.add_get("/login/code", code_form, name="admin-login-code")
    admin.router.add_post("/login/code", code, name="admin-login-code")
    admin.router.add_get("/totp", totp_form, name="admin-totp")
    admin.router.add_post("/totp", totp, name="admin-totp")
    admin.router.add_get("/password", password_form, name="admin-password")
    admin.router.add_post("/password", password, name="admin-password")
