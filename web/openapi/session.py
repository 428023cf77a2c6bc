"""The OpenAPI document's browser sessions (``web.routes.session``): Picasso's own pages
sign in with HttpOnly cookies and a CSRF token."""

from __future__ import annotations

from typing import Any

from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    Schema,
    json_body,
    obj,
    operation,
    problems,
    response,
    schema_ref,
    string,
)
from web.sessions import CSRF_COOKIE, CSRF_HEADER


def schemas() -> dict[str, Schema]:
    return {
        "BrowserSession": obj({
            "signed_in": {"type": "boolean"},
            "user": schema_ref("Me"),
            "csrf_token": string(f"Send it as `{CSRF_HEADER}` with every write (it is "
                                 f"also the `{CSRF_COOKIE}` cookie)."),
        }, required=["signed_in"],
            description="Who the browser session belongs to; `user` and `csrf_token` only "
                        "when signed in."),
    }


def paths() -> dict[str, Any]:
    started = response("Signed in: the session cookies are set (HttpOnly; `Set-Cookie`).",
                       schema_ref("BrowserSession"))
    own_page = ("For Picasso's pages: the tokens stay in HttpOnly cookies. The body must be "
                "`application/json` (415 otherwise), and an `Origin` other than the edge's "
                "own is refused (403).")
    return {
        f"{API}/session": {
            "post": operation(
                "startSession", "accounts", "Sign in a browser",
                {"200": started, **problems(400, 401, 403, 415, 422, 429, 502, 503)},
                description=f"{own_page} 401 when the email or the password is wrong.",
                request_body=json_body(schema_ref("Credentials")),
            ),
            "get": operation(
                "getSession", "accounts", "Who the browser session belongs to",
                {"200": response("The session (`signed_in: false` without one). The ID "
                                 "token is refreshed here when it is about to expire.",
                                 schema_ref("BrowserSession"))},
                security=OPTIONAL_SIGN_IN,
            ),
            "delete": operation(
                "endSession", "accounts", "Sign out a browser",
                {"204": response("The session cookies are cleared."), **problems(403)},
                description="Needs the CSRF header when a session is there (403 without).",
                security=[{}, {"browserSession": []}],
            ),
        },
        f"{API}/session/register": {"post": operation(
            "registerAndStartSession", "accounts", "Create an account and sign in a browser",
            {"201": started, **problems(400, 403, 409, 415, 422, 429, 502, 503)},
            description=f"{own_page} 409 when the email has an account already.",
            request_body=json_body(schema_ref("Registration")),
        )},
    }
