"""Browser sessions: the Firebase tokens kept in HttpOnly cookies set by the edge.

A browser signs in through ``POST /api/v1/session``; the edge keeps the ID token and the
refresh token in two HttpOnly, ``SameSite=Strict`` cookies that page scripts cannot read,
and refreshes the ID token itself when it is about to expire. Writes made with these
cookies must prove they come from Picasso's own pages (signed double-submit): the
``X-CSRF-Token`` header must carry the HMAC of the session's refresh token, which the
edge hands to the page in a readable cookie, and an ``Origin`` header, when sent, must be
the edge's own. API clients that send ``Authorization: Bearer`` are not affected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from picasso.settings import Settings
from web.auth import FirebaseAuth, Session
from web.problems import Problem

ID_COOKIE = "picasso_id"
REFRESH_COOKIE = "picasso_refresh"
CSRF_COOKIE = "picasso_csrf"
CSRF_HEADER = "X-CSRF-Token"
# The token cookies go only to the API; the CSRF cookie must be readable by every page.
TOKEN_PATH = "/api/v1"
SESSION_MAX_AGE_S = 30 * 24 * 3600
# Refresh the ID token when it has less than this left, so it never expires mid-request.
REFRESH_MARGIN_S = 300
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# What the request carries once the session was looked at (see ``apply_cookies``).
_RENEWED = "picasso.session.renewed"
_ENDED = "picasso.session.ended"


def csrf_token(settings: Settings, refresh_token: str) -> str:
    """The CSRF token that belongs to one session: bound to it, unguessable without the key."""
    digest = hmac.new(settings.signing_key.encode(), b"csrf\n" + refresh_token.encode(),
                      hashlib.sha256)
    return digest.hexdigest()


def token_expiry(id_token: str) -> float:
    """The ``exp`` claim of a JWT, read without checking it (0 when it cannot be read).

    Only used to decide when to refresh; the token itself is verified as always.
    """
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


def _secure(request: web.Request, settings: Settings) -> bool:
    # Behind a proxy that ends TLS the edge sees http; only the local stack is plain http.
    return request.secure or not settings.local


def start(response: web.StreamResponse, request: web.Request, settings: Settings,
          session: Session) -> None:
    """Set the three session cookies on ``response``."""
    secure = _secure(request, settings)
    token_cookie: dict[str, Any] = {"httponly": True, "samesite": "Strict", "secure": secure,
                                    "path": TOKEN_PATH}
    # The ID cookie leaves the browser a minute before the token expires; the edge then
    # refreshes from the longer-lived refresh cookie.
    response.set_cookie(ID_COOKIE, session.id_token, max_age=max(session.expires_in - 60, 60),
                        **token_cookie)
    response.set_cookie(REFRESH_COOKIE, session.refresh_token, max_age=SESSION_MAX_AGE_S,
                        **token_cookie)
    response.set_cookie(CSRF_COOKIE, csrf_token(settings, session.refresh_token),
                        max_age=SESSION_MAX_AGE_S, path="/", samesite="Strict", secure=secure)


def end(response: web.StreamResponse) -> None:
    """Clear the session cookies on ``response``."""
    response.del_cookie(ID_COOKIE, path=TOKEN_PATH)
    response.del_cookie(REFRESH_COOKIE, path=TOKEN_PATH)
    response.del_cookie(CSRF_COOKIE, path="/")


def has_session(request: web.Request) -> bool:
    if "Cookie" not in request.headers:  # most API reads: no cookies to parse
        return False
    return bool(request.cookies.get(REFRESH_COOKIE) or request.cookies.get(ID_COOKIE))


def check_origin(request: web.Request) -> None:
    """Refuse a request whose ``Origin`` (when the browser sent one) is another site."""
    origin = request.headers.get("Origin")
    # Hosts, not schemes, are compared: behind a proxy that ends TLS the edge sees http.
    if origin is not None and urlsplit(origin).netloc != request.host:
        raise Problem(403, f"requests from {origin} may not use this session")
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        raise Problem(403, "requests from other sites may not use this session")


def check_csrf(request: web.Request, settings: Settings) -> None:
    """A write made with the session cookies must come from Picasso's own pages."""
    check_origin(request)
    refresh_token = request.cookies.get(REFRESH_COOKIE, "")
    sent = request.headers.get(CSRF_HEADER, "")
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    if not refresh_token or not sent or not hmac.compare_digest(
            sent.encode("utf-8", "replace"), csrf_token(settings, refresh_token).encode()):
        raise Problem(403, f"this write needs the {CSRF_HEADER} header of the session "
                           f"(the value of the {CSRF_COOKIE} cookie)")


async def cookie_token(request: web.Request, settings: Settings,
                       auth: FirebaseAuth) -> str | None:
    """The ID token of the browser session in the request's cookies, refreshed when it is
    about to expire; None without a session. Writes are checked for CSRF first.

    A refresh that fails (the account was disabled, the session revoked) ends the session:
    the answer clears the cookies, and the caller is treated as signed out.
    """
    if not has_session(request):
        return None
    if request.method not in SAFE_METHODS:
        check_csrf(request, settings)
    id_token = request.cookies.get(ID_COOKIE)
    if id_token and token_expiry(id_token) - time.time() > REFRESH_MARGIN_S:
        return id_token
    refresh_token = request.cookies.get(REFRESH_COOKIE)
    if not refresh_token:
        request[_ENDED] = True
        return None
    try:
        session = await auth.refresh(refresh_token)
    except Problem as problem:
        if problem.status_code != 401:
            raise
        request[_ENDED] = True
        return None
    request[_RENEWED] = session
    return session.id_token


def ended(request: web.Request) -> None:
    """Mark the request's session as over: its answer clears the cookies."""
    request[_ENDED] = True


def apply_cookies(request: web.Request, response: web.StreamResponse,
                  settings: Settings) -> None:
    """Put a refreshed session's new cookies, or the clearing of an ended one, on the answer."""
    if not len(request):
        # Nothing was stored on the request (most answers): no missing key looked up twice,
        # each a KeyError raised and caught inside Mapping.get.
        return
    if request.get(_ENDED):
        end(response)
    elif (renewed := request.get(_RENEWED)) is not None:
        start(response, request, settings, renewed)
