"""The OpenAPI document's accounts (``web.routes.accounts``): sign-up, sign-in, the
caller's profile, which mail they get, and the unsubscribe link."""

from __future__ import annotations

from typing import Any

from picasso import unsubscribe
from topics.users import BIO, DISPLAY_NAME, EMAIL, NOTIFICATION_KINDS
from web.openapi.common import (
    API,
    SIGNED_IN,
    Schema,
    json_body,
    nullable,
    obj,
    operation,
    problems,
    query,
    response,
    schema_ref,
    string,
)
from web.validation import PASSWORD_MAX, PASSWORD_MIN


def schemas() -> dict[str, Schema]:
    return {
        "Session": obj({
            "user_id": string(),
            "id_token": string("Firebase ID token: send as `Authorization: Bearer`."),
            "refresh_token": string("Trade it at /api/v1/auth/refresh for a new ID token."),
            "expires_in": {"type": "integer", "description": "Seconds the ID token lives."},
        }),
        "Me": obj({
            "user_id": string(),
            # The contract's pattern (topics.users), which is what the edge checks at sign-up.
            "email": nullable(EMAIL),
            "display_name": nullable(string()),
            "preferences": schema_ref("Preferences"),
            "bio": string(),
            "avatar_picture_id": nullable(string()),
        }),
        "Preferences": obj(
            {kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS}, closed=True,
            description="Which kinds of notification mail the caller gets (true: on). "
                        "Receipts, payment-failed notices and the welcome mail always go."),
        "PreferenceChanges": {**obj({
            "preferences": {**obj({kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS},
                                  required=[], closed=True), "minProperties": 1},
            "bio": {**BIO, "description": "Plain text, kept as given (never read as HTML); "
                                          "empty: none."},
            "avatar_picture_id": {**nullable(string()), "description":
                                  "One of the caller's published pictures, whose thumbnail "
                                  "becomes the avatar; null: none."},
        }, required=[], closed=True, description="The kinds to turn on (true) or off "
                                                 "(false), kinds not named staying as they "
                                                 "are, and the profile's fields to change."),
            "minProperties": 1},
        "PreferencesAccepted": obj({
            "user_id": string(),
            "preferences": schema_ref("Preferences"),
            "bio": string(),
            "avatar_picture_id": nullable(string()),
            "command_id": string(),
        }, required=["user_id", "preferences", "command_id"],
            description="The change is on the broker; `preferences` is what they will be "
                        "once it is applied (GET /api/v1/me shows it then), and `bio` and "
                        "`avatar_picture_id` are there when they were changed."),
        "Unsubscribed": obj({
            "user_id": string(),
            "turned_off": {"type": "array",
                           "items": string(enum=list(NOTIFICATION_KINDS))},
            "command_id": string(),
        }, description="The kinds of mail the link turned off."),
        "Registration": obj({
            "email": {**EMAIL,
                      "description": "Surrounding blanks are trimmed; the address is kept in "
                                     "lower case."},
            "password": string(minLength=PASSWORD_MIN, maxLength=PASSWORD_MAX),
            "display_name": {**DISPLAY_NAME,
                             "description": "Surrounding blanks are trimmed."},
        }),
        "Credentials": obj({
            "email": string(format="email", minLength=1),
            "password": string(minLength=1),
        }),
        "RefreshRequest": obj({"refresh_token": string(minLength=1)}),
    }


def paths() -> dict[str, Any]:
    session = response("The session: an ID token and a refresh token.",
                       schema_ref("Session"))
    return {
        f"{API}/auth/register": {"post": operation(
            "register", "accounts", "Create an account",
            {"201": response("The account exists; the caller is signed in.",
                             schema_ref("Session"),
                             headers={"Location": {"description": "`/api/v1/me`",
                                                   "schema": string()}}),
             **problems(400, 409, 422, 429, 502, 503)},
            description="409 when the email has an account already.",
            request_body=json_body(schema_ref("Registration")),
        )},
        f"{API}/auth/login": {"post": operation(
            "login", "accounts", "Sign in with email and password",
            {"200": session, **problems(400, 401, 422, 429, 502, 503)},
            description="401 when the email or the password is wrong.",
            request_body=json_body(schema_ref("Credentials")),
        )},
        f"{API}/auth/refresh": {"post": operation(
            "refreshSession", "accounts", "Trade a refresh token for a new ID token",
            {"200": session, **problems(400, 401, 422, 502, 503)},
            request_body=json_body(schema_ref("RefreshRequest")),
        )},
        f"{API}/me": {"get": operation(
            "getMe", "accounts", "The signed-in caller's profile",
            {"200": response("The caller.", schema_ref("Me")), **problems(401, 503)},
            security=SIGNED_IN,
        ), "patch": operation(
            "updateMe", "accounts", "Change the bio, the avatar or which mail one gets",
            {"202": response("The change is accepted; `Location` is the caller's profile.",
                             schema_ref("PreferencesAccepted"),
                             headers={"Location": {"description": "`/api/v1/me`",
                                                   "schema": string()}}),
             **problems(400, 401, 422, 503)},
            description="`preferences`, `bio` and `avatar_picture_id` may be changed here. "
                        "An unknown field or kind, a value that is not true or false, a bio "
                        "too long or an avatar that is not one of the caller's published "
                        "pictures is a 422 and changes nothing. Receipts, "
                        "payment-failed notices and the welcome mail are always sent.",
            security=SIGNED_IN, request_body=json_body(schema_ref("PreferenceChanges")),
        )},
        **unsubscribe_paths(),
    }


def unsubscribe_paths() -> dict[str, Any]:
    link = [
        query("user", string(), "The user the link was made for."),
        query("kind", string(enum=[*NOTIFICATION_KINDS, unsubscribe.ALL]),
              "The kind of mail to stop (`all`: every kind that can be turned off)."),
        query("signature", string(), "The link's signature."),
    ]
    bad_link = ("The link in a mail's `List-Unsubscribe` header and footer: no bearer token; "
                "403 when it is not a valid link.")
    return {unsubscribe.PATH: {
        "get": operation(
            "unsubscribePage", "accounts", "The page of an unsubscribe link",
            {"200": response("A page with one button that unsubscribes (changes nothing by "
                             "itself, so link checkers are harmless).", string(),
                             media_type="text/html"),
             **problems(403)},
            description=bad_link, parameters=link,
        ),
        "post": operation(
            "unsubscribe", "accounts", "One-click unsubscribe (RFC 8058)",
            {"202": response("The kinds are being turned off.", schema_ref("Unsubscribed")),
             **problems(403, 503)},
            description=f"{bad_link} Mail clients POST `List-Unsubscribe=One-Click` here.",
            parameters=link,
        ),
    }}
