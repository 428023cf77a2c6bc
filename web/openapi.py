"""The served OpenAPI 3.1 document of the edge (``GET /api/v1/openapi.json``).

It describes what the route handlers in ``web.routes`` do: the contract of
``design/API.md`` plus what the edge adds to it (``command_id`` in every 202 answer, the
``Location`` with ``?after=<command_id>``, the ``after`` query of a picture read, the
``errors`` object of 422 problems). Limits come from the same constants the handlers check
with, so the document and the code cannot drift apart on them.

The document is built once, on first use, and the same dict is returned afterwards:
callers must not change it.
"""

from __future__ import annotations

import functools
from typing import Any

from agents.purchases.ledger import STATUSES as PURCHASE_STATUSES
from picasso import unsubscribe
from topics.record import CURRENCIES
from topics.users import NOTIFICATION_KINDS
from web.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from web.readmodels import MAX_WAIT_MS
from web.sessions import CSRF_COOKIE, CSRF_HEADER, ID_COOKIE, REFRESH_COOKIE
from web.validation import (
    DESCRIPTION_MAX,
    FORM_FIELD_MAX_BYTES,
    FORM_FIELDS_MAX,
    FORM_FIELDS_MAX_BYTES,
    PRICE_MAX,
    PRICE_MIN,
    TAGS_MAX,
    TITLE_MAX,
)

Schema = dict[str, Any]

API = "/api/v1"
JSON = "application/json"
LIMIT_DEFAULT, LIMIT_MAX = 20, 100
PASSWORD_MIN, PASSWORD_MAX = 8, 128
DISPLAY_NAME_MAX = 80
TAG_PATTERN = "^[a-z0-9][a-z0-9_-]{0,31}$"
IDEMPOTENCY_KEY_MAX = 255

DESCRIPTION = f"""\
Picasso is a marketplace for pictures: upload, explore, like and buy originals.

**Conventions.** JSON in and out. Errors are RFC 9457 problem details
(`{PROBLEM_CONTENT_TYPE}`: `type`, `title`, `status`, `detail`), never a stack trace;
a 422 problem also carries `errors`, an object naming each bad field and what is wrong
with it. Timestamps are RFC 3339 UTC. Money is integer cents plus an ISO 4217 `currency`.
Ids are opaque strings.

**Authentication.** Writes need `Authorization: Bearer <Firebase ID token>`, as answered by
register, login and refresh (or obtained from Firebase in a client, e.g. Google sign-in).
A missing or bad token is 401; a valid token without the right is 403. Reads work without
a token; with one they also tell what the caller liked (a bad token is still a 401).

**Browser sessions.** Picasso's own pages sign in with `POST /api/v1/session`, which keeps
the tokens in HttpOnly, `SameSite=Strict` cookies (`{ID_COOKIE}`, `{REFRESH_COOKIE}`) that
page scripts cannot read; the edge refreshes the ID token before it expires. Every write
made with these cookies must send the `{CSRF_HEADER}` header with the value of the readable
`{CSRF_COOKIE}` cookie (also answered as `csrf_token`), and an `Origin`, when sent, must be
the edge's own; otherwise it is 403. `DELETE /api/v1/session` signs out.

**Writes are commands.** A write answers `202 Accepted` once its command is on the message
broker (acknowledged, so it is not lost), before it is applied. The body carries the
`command_id`; the `Location` header names the picture to read, and for an edit, a delete,
a like or an unlike it is `/api/v1/pictures/{{picture_id}}?after=<command_id>`.
Reading that address with `wait_ms` holds the answer until the read model has applied the
command (or the time runs out, at most {MAX_WAIT_MS} ms) and then answers what it has.
An upload answers `{{picture_id, status: "processing", command_id}}`; reading the picture
with `wait_ms` waits until it is published or rejected.

**Purchases.** Buying a published picture answers `202 Accepted` with
`{{purchase_id, status}}` and `Location: /api/v1/purchases/{{purchase_id}}`; an
`Idempotency-Key` header makes a retry answer the same purchase. Read the purchase (with
`wait_ms` to wait until it leaves `pending`): while `awaiting_payment` it carries the
Stripe `client_secret` to confirm the payment with; Stripe's webhook
(`POST /api/v1/webhooks/stripe`, signed with `Stripe-Signature`, no bearer token) then
completes or fails it. A purchase still `awaiting_payment` after the payment deadline
fails with `payment not completed in time`, and the buyer may buy again. The owner and
buyers whose purchase completed may download the original:
`GET /api/v1/pictures/{{picture_id}}/original` redirects to a signed, expiring link.
The seller may give the money back with `POST /api/v1/purchases/{{purchase_id}}/refund`;
a refund (also one made at Stripe, or a dispute the seller lost) withdraws the buyer's
licence and takes the sale off the seller's list and totals.

**Mail.** Picasso mails a welcome, "your picture is live" or "rejected, because …",
a receipt with the download link, a sale notice with the amount, payment-failed
notices, refund notices to buyer and seller, and dispute notices to the seller.
`PATCH /api/v1/me` with `{{"preferences": {{"picture_published": false}}}}` turns
a kind off (kinds: {", ".join(f"`{kind}`" for kind in NOTIFICATION_KINDS)}); receipts,
payment-failed notices and the welcome mail always go. Every mail that can be turned off
carries a one-click `List-Unsubscribe` link.

**Operations.** `/healthz`, `/readyz` and `/metrics` are at the root, outside `/api/v1`.
"""


# --- small builders -------------------------------------------------------------------

def ref(kind: str, name: str) -> Schema:
    """A ``$ref`` to ``#/components/<kind>/<name>``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> Schema:
    return ref("schemas", name)


def nullable(schema: Schema) -> Schema:
    """``schema`` or JSON ``null`` (OpenAPI 3.1 has no ``nullable``)."""
    return {"anyOf": [schema, {"type": "null"}]}


def string(description: str | None = None, **keywords: Any) -> Schema:
    schema: Schema = {"type": "string", **keywords}
    if description:
        schema["description"] = description
    return schema


def obj(properties: dict[str, Schema], required: list[str] | None = None, *,
        description: str | None = None, closed: bool = False) -> Schema:
    """An object schema; ``required`` defaults to every property."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if description:
        schema["description"] = description
    if closed:
        schema["additionalProperties"] = False
    return schema


def json_content(schema: Schema, media_type: str = JSON) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def response(description: str, schema: Schema | None = None, *,
             headers: dict[str, Any] | None = None, media_type: str = JSON) -> dict[str, Any]:
    """A response object, with a body when ``schema`` is given."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = json_content(schema, media_type)
    if headers:
        answer["headers"] = headers
    return answer


def json_body(schema: Schema, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": json_content(schema)}
    if description:
        body["description"] = description
    return body


def query(name: str, schema: Schema, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema, "description": description}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string"}, "description": description}


# Who may call an operation (operations without ``security`` look at no token).
SIGNED_IN = [{"bearer": []}, {"browserSession": []}]
OPTIONAL_SIGN_IN = [{}, {"bearer": []}, {"browserSession": []}]

# The shared problem responses, by status (``#/components/responses/<name>``).
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed (not a JSON object, a broken multipart "
                        "body, a cursor this API did not give out)."),
    401: ("Unauthorized", "No bearer token was sent where one is needed, or the token "
                          "(or the credentials) were refused."),
    403: ("Forbidden", "The token is valid but the caller has no right to this (or a "
                       "write with the browser session lacks its CSRF token)."),
    404: ("NotFound", "There is no such resource the caller may see."),
    409: ("Conflict", "The request conflicts with the resource's state."),
    413: ("PayloadTooLarge", "The upload or one of its form fields is too large."),
    415: ("UnsupportedMediaType", "The body is not multipart/form-data, or the file is not "
                                  "a JPEG, PNG or WebP image."),
    422: ("UnprocessableContent", "Some fields are invalid; `errors` names each one and "
                                  "what is wrong with it."),
    429: ("TooManyRequests", "Over a rate limit of this caller (signing in by address or "
                             "email; likes, uploads, purchases by user); `Retry-After` "
                             "says in how many seconds to try again."),
    502: ("BadGateway", "The identity service gave an unexpected answer."),
    503: ("ServiceUnavailable", "A dependency (message broker, token keys) is unavailable, "
                               "or too many requests wait (`wait_ms`); nothing was "
                               "changed. `Retry-After` may say when to try again."),
}


def problems(*statuses: int) -> dict[str, Any]:
    """The shared problem responses for ``statuses``, plus ``default`` for the unexpected."""
    answers: dict[str, Any] = {
        str(status): ref("responses", PROBLEMS[status][0]) for status in statuses
    }
    answers["default"] = ref("responses", "UnexpectedError")
    return answers


def operation(operation_id: str, tag: str, summary: str, responses: dict[str, Any], *,
              description: str | None = None, security: list | None = None,
              parameters: list[dict[str, Any]] | None = None,
              request_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operation object; ``security=None`` leaves it public (no token looked at)."""
    op: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    op["responses"] = responses
    if security is not None:
        op["security"] = security
    return op


# --- components -----------------------------------------------------------------------

def price_schema() -> Schema:
    return {
        "type": "integer",
        "anyOf": [{"const": 0}, {"minimum": PRICE_MIN, "maximum": PRICE_MAX}],
        "description": f"Price in cents of `currency`: 0 for free, else {PRICE_MIN} to "
                       f"{PRICE_MAX}.",
    }


def title_schema() -> Schema:
    return string(f"1 to {TITLE_MAX} characters (surrounding blanks are trimmed).",
                  minLength=1, maxLength=TITLE_MAX)


def description_schema() -> Schema:
    return string(f"At most {DESCRIPTION_MAX} characters.", maxLength=DESCRIPTION_MAX)


def tags_schema() -> Schema:
    return {"type": "array", "maxItems": TAGS_MAX, "uniqueItems": True,
            "items": string("Lower case letters, digits, `-` or `_`; at most 32 characters.",
                            pattern=TAG_PATTERN)}


def tags_text_schema() -> Schema:
    return string(f"Comma separated tags (at most {TAGS_MAX}); each is lower-cased, and "
                  "must then be letters, digits, `-` or `_`, at most 32 characters.",
                  examples=["sunset,beach"])


def component_schemas() -> dict[str, Schema]:
    """``components.schemas``: every body the API answers or accepts, by name."""
    owner = obj({
        "user_id": string(),
        "display_name": nullable(string()),
    }, description="The owner of a picture.")
    picture_properties: dict[str, Schema] = {
        "picture_id": string(),
        "owner": owner,
        "title": string(maxLength=TITLE_MAX),
        "description": string(maxLength=DESCRIPTION_MAX),
        "price_cents": price_schema(),
        "currency": string("ISO 4217 code, lower case.", pattern="^[a-z]{3}$"),
        "tags": {"type": "array", "items": string()},
        "status": string(enum=["processing", "published", "rejected", "deleted"]),
        "reason": nullable(string("Why the picture was rejected (only when rejected).")),
        "width": nullable({"type": "integer", "minimum": 1}),
        "height": nullable({"type": "integer", "minimum": 1}),
        "thumbnail_url": nullable(string("Public, downscaled, watermarked when priced, "
                                         "without EXIF or GPS data.")),
        "preview_url": nullable(string("Public, downscaled, watermarked when priced, "
                                       "without EXIF or GPS data.")),
        "like_count": {"type": "integer", "minimum": 0},
        "liked_by_me": {"type": "boolean"},
        "purchased_by_me": {"type": "boolean"},
        "created_at": string(format="date-time"),
    }
    return {
        "Picture": obj(picture_properties,
                       required=[name for name in picture_properties if name != "reason"],
                       description="A picture. The original is never public; only the "
                                   "preview and the thumbnail are."),
        "PicturePage": obj({
            "items": {"type": "array", "items": schema_ref("Picture")},
            "next_cursor": nullable(string("Opaque, signed by the edge: pass it as "
                                           "`cursor` for the next page; null on the last "
                                           "page.")),
        }, description="Published pictures, newest first."),
        "Session": obj({
            "user_id": string(),
            "id_token": string("Firebase ID token: send as `Authorization: Bearer`."),
            "refresh_token": string("Trade it at /api/v1/auth/refresh for a new ID token."),
            "expires_in": {"type": "integer", "description": "Seconds the ID token lives."},
        }),
        "Me": obj({
            "user_id": string(),
            "email": nullable(string(format="email")),
            "display_name": nullable(string()),
            "preferences": schema_ref("Preferences"),
        }),
        "Preferences": obj(
            {kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS}, closed=True,
            description="Which kinds of notification mail the caller gets (true: on). "
                        "Receipts, payment-failed notices and the welcome mail always go."),
        "PreferenceChanges": obj({
            "preferences": {**obj({kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS},
                                  required=[], closed=True), "minProperties": 1},
        }, closed=True, description="The kinds to turn on (true) or off (false); kinds "
                                    "not named stay as they are."),
        "PreferencesAccepted": obj({
            "user_id": string(),
            "preferences": schema_ref("Preferences"),
            "command_id": string(),
        }, description="The change is on the broker; `preferences` is what they will be "
                       "once it is applied (GET /api/v1/me shows it then)."),
        "Unsubscribed": obj({
            "user_id": string(),
            "turned_off": {"type": "array",
                           "items": string(enum=list(NOTIFICATION_KINDS))},
            "command_id": string(),
        }, description="The kinds of mail the link turned off."),
        "Accepted": obj({
            "picture_id": string(),
            "status": string("What the command does (edits and deletes only).",
                             enum=["updating", "deleting"]),
            "command_id": string("Pass as `after` to GET /api/v1/pictures/{picture_id}."),
        }, required=["picture_id", "command_id"],
            description="A command was accepted by the broker; it is applied later."),
        "UploadAccepted": obj({
            "picture_id": string(),
            "status": string(const="processing"),
            "command_id": string(),
        }, description="The upload is stored and its command accepted; the picture is "
                       "published or rejected once processed."),
        "Problem": obj({
            "type": string(format="uri"),
            "title": string(),
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": string(),
            "errors": {
                "type": "object", "additionalProperties": string(),
                "description": "In 422 problems: each bad field and what is wrong with it.",
            },
        }, required=["type", "title", "status", "detail"],
            description="RFC 9457 problem details."),
        "Readiness": obj({
            "ready": {"type": "boolean"},
            "checks": {
                "type": "object",
                "description": "Each dependency: `ok`, `failed` or `timed out` (the error "
                               "itself is logged, never answered).",
                "additionalProperties": string(enum=["ok", "failed", "timed out"]),
                "examples": [{"broker": "ok", "mongodb": "ok", "blob_store": "ok",
                              "auth": "ok"}],
            },
        }),
        "Liveness": obj({"status": string(const="alive")}),
        "PurchaseRequest": obj({
            "payment_method": string("A Stripe payment method id to pay with; without it "
                                     "the client confirms the payment with "
                                     "`client_secret`.", minLength=1,
                                     maxLength=IDEMPOTENCY_KEY_MAX),
            "expected_price_cents": {
                "type": "integer", "minimum": 0, "maximum": PRICE_MAX,
                "description": "The price the buyer was shown, in cents of the picture's "
                               "currency. If the price fixed for the purchase differs, "
                               "nothing is charged: 409 at once when the edge already "
                               "knows the new price, otherwise the purchase fails with a "
                               "`failure_reason` saying the price changed."},
        }, required=[], closed=True, description="All optional; the body may be left out."),
        "PurchaseAccepted": obj({
            "purchase_id": string(),
            "status": string("`pending` for a new purchase; the current status when the "
                             "`Idempotency-Key` names one already made.",
                             enum=list(PURCHASE_STATUSES)),
        }, description="The purchase command was accepted by the broker; read the "
                       "purchase at `Location`."),
        "Purchase": obj({
            "purchase_id": string(),
            "picture_id": string(),
            "buyer_id": string(),
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": string("ISO 4217 code, lower case.", pattern="^[a-z]{3}$"),
            "status": string(enum=list(PURCHASE_STATUSES)),
            "client_secret": nullable(string("Stripe's PaymentIntent client secret to "
                                             "confirm the payment with; only while "
                                             "`awaiting_payment`.")),
            "failure_reason": nullable(string("Why the purchase failed.")),
            "created_at": string(format="date-time"),
            "completed_at": nullable(string(format="date-time")),
        }, description="One of the caller's purchases."),
        "PurchaseList": obj({
            "items": {"type": "array", "items": schema_ref("Purchase")},
        }, description="The caller's purchases, newest first (at most 100)."),
        "Sale": obj({
            "seller_id": string(),
            "purchase_id": string(),
            "picture_id": string(),
            "buyer_id": string(),
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": string("ISO 4217 code, lower case.", pattern="^[a-z]{3}$"),
            "completed_at": string(format="date-time"),
        }, description="One completed purchase of the caller's picture."),
        "SellerTotal": obj({
            "currency": string("ISO 4217 code, lower case.", pattern="^[a-z]{3}$"),
            "sales_count": {"type": "integer", "minimum": 0},
            "gross_cents": {"type": "integer", "minimum": 0},
        }, description="The caller's completed sales in one currency."),
        "SalesReport": obj({
            "items": {"type": "array", "items": schema_ref("Sale")},
            "totals": {"type": "array", "items": schema_ref("SellerTotal")},
        }, description="The caller's sales, newest first (at most 100), and totals by "
                       "currency."),
        "RefundAccepted": obj({
            "command_id": string("The RefundPurchase command's id."),
            "purchase_id": string(),
        }, description="The refund command was accepted by the broker; the purchase turns "
                       "`refunded` once Stripe has given the money back."),
        "WebhookReceipt": obj({
            "received": {"type": "boolean", "const": True},
            "used": {"type": "boolean", "description": "False for events the purchases "
                                                      "do not act on."},
        }),
        "Registration": obj({
            "email": string(format="email", maxLength=254),
            "password": string(minLength=PASSWORD_MIN, maxLength=PASSWORD_MAX),
            "display_name": string(minLength=1, maxLength=DISPLAY_NAME_MAX),
        }),
        "Credentials": obj({
            "email": string(format="email", minLength=1),
            "password": string(minLength=1),
        }),
        "RefreshRequest": obj({"refresh_token": string(minLength=1)}),
        "BrowserSession": obj({
            "signed_in": {"type": "boolean"},
            "user": schema_ref("Me"),
            "csrf_token": string(f"Send it as `{CSRF_HEADER}` with every write (it is "
                                 f"also the `{CSRF_COOKIE}` cookie)."),
        }, required=["signed_in"],
            description="Who the browser session belongs to; `user` and `csrf_token` only "
                        "when signed in."),
        "ClientConfig": obj({
            "max_upload_bytes": {"type": "integer", "minimum": 1},
            "payments": obj({
                "test_mode": {"type": "boolean",
                              "description": "Stripe runs with test keys."},
                "test_payment_methods": {
                    "type": "array",
                    "description": "Stripe test payment methods a page may offer (test "
                                   "mode only): pass `id` as `payment_method`.",
                    "items": obj({"id": string(), "label": string()}),
                },
            }),
        }, description="What Picasso's pages need to know about this server."),
        "PictureChanges": {
            **obj({
                "title": title_schema(),
                "description": description_schema(),
                "price_cents": price_schema(),
                "tags": {"anyOf": [tags_schema(), tags_text_schema()]},
            }, required=[], closed=True,
                description="Any of the editable fields; others are refused with 422."),
            "minProperties": 1,
        },
        "PictureUpload": obj({
            "file": string("The image: JPEG, PNG or WebP.", format="binary"),
            "title": title_schema(),
            "description": description_schema(),
            "price_cents": price_schema(),
            "currency": string(
                f"ISO 4217 code of a currency Picasso sells in: {', '.join(CURRENCIES)} "
                "(lower or upper case); others are refused with 422.",
                pattern="^(" + "|".join(f"{c}|{c.upper()}" for c in CURRENCIES) + ")$",
                default="usd"),
            "tags": tags_text_schema(),
        }, required=["file", "title", "price_cents"], closed=True),
    }


def component_responses() -> dict[str, Any]:
    """``components.responses``: the problem answers, shared by every operation."""
    answers = {
        name: response(description, schema_ref("Problem"), media_type=PROBLEM_CONTENT_TYPE)
        for name, description in PROBLEMS.values()
    }
    answers["UnexpectedError"] = response(
        "An unexpected error; the detail names the request id.", schema_ref("Problem"),
        media_type=PROBLEM_CONTENT_TYPE)
    return answers


def component_headers() -> dict[str, Any]:
    return {
        "Location": {
            "description": "Where to read what the write started: the picture, with "
                           "`?after=<command_id>` for edits, deletes, likes and unlikes.",
            "schema": string(format="uri-reference"),
        },
    }


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A Firebase ID token, as answered by register, login and "
                               "refresh, or obtained from Firebase Auth in a client.",
            },
            "browserSession": {
                "type": "apiKey", "in": "cookie", "name": ID_COOKIE,
                "description": "The HttpOnly cookies set by POST /api/v1/session. Writes "
                               f"also need the `{CSRF_HEADER}` header (the `{CSRF_COOKIE}` "
                               "cookie's value).",
            },
        },
        "schemas": component_schemas(),
        "responses": component_responses(),
        "headers": component_headers(),
    }


# --- paths ----------------------------------------------------------------------------

def accepted(schema_name: str, description: str) -> dict[str, Any]:
    return {"202": response(description, schema_ref(schema_name),
                            headers={"Location": ref("headers", "Location")})}


def feed_parameters() -> list[dict[str, Any]]:
    return [
        query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                        "default": LIMIT_DEFAULT}, "How many pictures per page."),
        query("cursor", string(), "The opaque `next_cursor` of the previous page, as "
                                  "given; any other value (made up or altered) is a 400."),
        query("tag", string(), "Only pictures with this tag (case does not matter)."),
    ]


def wait_parameters() -> list[dict[str, Any]]:
    return [
        query("wait_ms", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS,
                          "default": 0},
              "Hold the answer up to this many milliseconds until the picture is settled "
              "(no longer processing) and, with `after`, that command is applied; then "
              "answer what there is."),
        query("after", string(), "A `command_id` from a 202 answer: wait (with `wait_ms`) "
                                 "until that command has been applied."),
    ]


PICTURE_ID = path_param("picture_id", "The picture's id.")


def account_paths() -> dict[str, Any]:
    session = response("The session: an ID token and a refresh token.",
                       schema_ref("Session"))
    return {
        f"{API}/auth/register": {"post": operation(
            "register", "accounts", "Create an account",
            {"201": response("The account exists; the caller is signed in.",
                             schema_ref("Session"),
                             headers={"Location": {"description": "`/api/v1/me`",
                                                   "schema": string()}}),
             **problems(400, 409, 422, 429, 502)},
            description="409 when the email has an account already.",
            request_body=json_body(schema_ref("Registration")),
        )},
        f"{API}/auth/login": {"post": operation(
            "login", "accounts", "Sign in with email and password",
            {"200": session, **problems(400, 401, 422, 429, 502)},
            description="401 when the email or the password is wrong.",
            request_body=json_body(schema_ref("Credentials")),
        )},
        f"{API}/auth/refresh": {"post": operation(
            "refreshSession", "accounts", "Trade a refresh token for a new ID token",
            {"200": session, **problems(400, 401, 422, 502)},
            request_body=json_body(schema_ref("RefreshRequest")),
        )},
        f"{API}/me": {"get": operation(
            "getMe", "accounts", "The signed-in caller's profile",
            {"200": response("The caller.", schema_ref("Me")), **problems(401, 503)},
            security=SIGNED_IN,
        ), "patch": operation(
            "updateMyPreferences", "accounts", "Turn kinds of notification mail on or off",
            {"202": response("The change is accepted; `Location` is the caller's profile.",
                             schema_ref("PreferencesAccepted"),
                             headers={"Location": {"description": "`/api/v1/me`",
                                                   "schema": string()}}),
             **problems(400, 401, 422, 503)},
            description="Only `preferences` may be changed here. An unknown kind or a value "
                        "that is not true or false is a 422 and changes nothing. Receipts, "
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


def session_paths() -> dict[str, Any]:
    started = response("Signed in: the session cookies are set (HttpOnly; `Set-Cookie`).",
                       schema_ref("BrowserSession"))
    own_page = ("For Picasso's pages: the tokens stay in HttpOnly cookies. The body must be "
                "`application/json` (415 otherwise), and an `Origin` other than the edge's "
                "own is refused (403).")
    return {
        f"{API}/session": {
            "post": operation(
                "startSession", "accounts", "Sign in a browser",
                {"200": started, **problems(400, 401, 403, 415, 422, 429, 502)},
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
            {"201": started, **problems(400, 403, 409, 415, 422, 429, 502)},
            description=f"{own_page} 409 when the email has an account already.",
            request_body=json_body(schema_ref("Registration")),
        )},
        f"{API}/config": {"get": operation(
            "getClientConfig", "operations", "Settings for Picasso's pages",
            {"200": response("What the pages need to know.", schema_ref("ClientConfig"))},
        )},
    }


def picture_paths() -> dict[str, Any]:
    page = response("A page of published pictures, newest first.", schema_ref("PicturePage"))
    owner = query("owner", string(), "Only this user's pictures.")
    owned = ("Owner only: others get 403 (404 when the picture is not published); 409 when "
             "the picture is deleted already.")
    return {
        f"{API}/pictures": {
            "post": operation(
                "uploadPicture", "pictures", "Upload a picture",
                {**accepted("UploadAccepted", "Stored; the picture is processing. "
                                              "`Location` is the picture."),
                 **problems(400, 401, 413, 415, 422, 429, 503)},
                description="The file is streamed to storage and checked; the picture is "
                            "published (previews made, metadata stripped) or rejected "
                            "later. Read it with `wait_ms` to wait for that. Besides "
                            f"the file, at most {FORM_FIELDS_MAX} fields (else 422), each "
                            f"at most {FORM_FIELD_MAX_BYTES} bytes and "
                            f"{FORM_FIELDS_MAX_BYTES} bytes together (else 413), with or "
                            "without Content-Length.",
                security=SIGNED_IN,
                request_body={"required": True, "content": {"multipart/form-data": {
                    "schema": schema_ref("PictureUpload"),
                    "encoding": {"file": {
                        "contentType": "image/jpeg, image/png, image/webp"}},
                }}},
            ),
            "get": operation(
                "listPictures", "pictures", "The feed of published pictures",
                {"200": page, **problems(400, 401, 422)},
                security=OPTIONAL_SIGN_IN,
                parameters=[*feed_parameters(), owner],
            ),
        },
        f"{API}/users/{{user_id}}/pictures": {"get": operation(
            "listUserPictures", "pictures", "One user's published pictures",
            {"200": page, **problems(400, 401, 422)},
            description="As GET /api/v1/pictures with `owner`.",
            security=OPTIONAL_SIGN_IN,
            parameters=[path_param("user_id", "The owner's user id."), *feed_parameters()],
        )},
        f"{API}/pictures/{{picture_id}}": {
            "get": operation(
                "getPicture", "pictures", "One picture",
                {"200": response("The picture.", schema_ref("Picture")),
                 **problems(401, 404, 422, 503)},
                description="Published pictures are visible to all; the owner also sees "
                            "theirs while processing, rejected or deleted.",
                security=OPTIONAL_SIGN_IN,
                parameters=[PICTURE_ID, *wait_parameters()],
            ),
            "patch": operation(
                "updatePicture", "pictures", "Edit a picture",
                {**accepted("Accepted", "The edit is accepted (`status: updating`)."),
                 **problems(400, 401, 403, 404, 409, 422, 503)},
                description=owned, security=SIGNED_IN, parameters=[PICTURE_ID],
                request_body=json_body(schema_ref("PictureChanges")),
            ),
            "delete": operation(
                "deletePicture", "pictures", "Delete a picture",
                {**accepted("Accepted", "The delete is accepted (`status: deleting`); the "
                                        "picture leaves the feed."),
                 **problems(401, 403, 404, 409, 503)},
                description=f"{owned} Buyers keep their right to download.",
                security=SIGNED_IN, parameters=[PICTURE_ID],
            ),
        },
    }


def like_paths() -> dict[str, Any]:
    def react(operation_id: str, summary: str, description: str) -> dict[str, Any]:
        return operation(
            operation_id, "likes", summary,
            {**accepted("Accepted", "Accepted; the like count changes once applied."),
             **problems(401, 404, 429, 503)},
            description=f"{description} 404 unless the picture is published.",
            security=SIGNED_IN, parameters=[PICTURE_ID],
        )

    return {f"{API}/pictures/{{picture_id}}/like": {
        "put": react("likePicture", "Like a picture", "Liking twice counts once."),
        "delete": react("unlikePicture", "Take a like back", "Unliking is idempotent too."),
    }}


def header_param(name: str, schema: Schema, description: str, *,
                 required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required,
            "schema": schema, "description": description}


def purchase_paths() -> dict[str, Any]:
    purchase_id = path_param("purchase_id", "The purchase's id.")
    listed = response("The caller's purchases.", schema_ref("PurchaseList"))
    image_types = ("image/jpeg", "image/png", "image/webp")
    return {
        f"{API}/pictures/{{picture_id}}/purchases": {"post": operation(
            "buyPicture", "purchases", "Buy a picture's original",
            {"202": response(
                "The purchase is accepted (`status: pending`); read it at `Location`.",
                schema_ref("PurchaseAccepted"),
                headers={"Location": {"description": "`/api/v1/purchases/{purchase_id}`",
                                      "schema": string(format="uri-reference")}}),
             **problems(400, 401, 404, 409, 422, 429, 503)},
            description="404 unless the picture is published; 409 for the caller's own "
                        "picture, one they have bought already, or when "
                        "`expected_price_cents` is not the picture's price.",
            security=SIGNED_IN,
            parameters=[PICTURE_ID, header_param(
                "Idempotency-Key", string(maxLength=IDEMPOTENCY_KEY_MAX),
                f"At most {IDEMPOTENCY_KEY_MAX} characters: the same key from the same "
                "caller names the same purchase, so a retry buys once.")],
            request_body={**json_body(schema_ref("PurchaseRequest")), "required": False},
        )},
        f"{API}/purchases/{{purchase_id}}": {"get": operation(
            "getPurchase", "purchases", "One of the caller's purchases",
            {"200": response("The purchase.", schema_ref("Purchase")),
             **problems(401, 404, 422, 503)},
            description="Only its buyer sees a purchase; others get 404.",
            security=SIGNED_IN,
            parameters=[purchase_id, query(
                "wait_ms", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS,
                            "default": 0},
                "Hold the answer up to this many milliseconds until the purchase is no "
                "longer `pending`; then answer what there is.")],
        )},
        f"{API}/me/purchases": {"get": operation(
            "listMyPurchases", "purchases", "The caller's purchases",
            {"200": listed, **problems(401)},
            security=SIGNED_IN,
        )},
        f"{API}/me/sales": {"get": operation(
            "listMySales", "purchases", "The caller's sales and totals",
            {"200": response("The caller's completed sales.", schema_ref("SalesReport")),
             **problems(401)},
            security=SIGNED_IN,
        )},
        f"{API}/purchases/{{purchase_id}}/refund": {"post": operation(
            "refundPurchase", "purchases", "Refund a sale",
            {"202": response(
                "The refund is accepted; the sale leaves `GET /api/v1/me/sales` once "
                "Stripe has refunded it.", schema_ref("RefundAccepted"),
                headers={"Location": {"description": "`/api/v1/me/sales`",
                                      "schema": string(format="uri-reference")}}),
             **problems(401, 403, 404, 409, 503)},
            description="Only the purchase's seller may refund it (403 for anyone else, "
                        "404 for an unknown purchase); 409 unless the purchase is "
                        "completed and was paid. The buyer's licence is withdrawn, the "
                        "buyer and the seller are mailed, and the buyer may buy again.",
            security=SIGNED_IN, parameters=[purchase_id],
        )},
        f"{API}/webhooks/stripe": {"post": operation(
            "stripeWebhook", "purchases", "Stripe's payment events",
            {"200": response("The event was received; `used` tells whether it concerned "
                             "a purchase.", schema_ref("WebhookReceipt")),
             **problems(400, 503)},
            description="Called by Stripe, not by clients: no bearer token; the raw body "
                        "is checked against `Stripe-Signature` (400 when it does not "
                        "match). `payment_intent.succeeded` completes a purchase, "
                        "`payment_intent.payment_failed` fails it, `charge.refunded` (in "
                        "full) refunds it, `charge.dispute.created` and "
                        "`charge.dispute.closed` tell of a dispute (one lost refunds it); "
                        "other events are acknowledged and ignored. An event delivered "
                        "twice is applied once.",
            parameters=[header_param("Stripe-Signature", string(),
                                     "Stripe's signature of the raw body.", required=True)],
            request_body=json_body({"type": "object",
                                    "description": "A Stripe event, as Stripe sends it."}),
        )},
        f"{API}/pictures/{{picture_id}}/original": {"get": operation(
            "getOriginal", "purchases", "Download a picture's original",
            {"302": response(
                "A redirect to a signed link to the original that expires soon.",
                headers={
                    "Location": {"description": "The signed, expiring download link.",
                                 "schema": string(format="uri")},
                    "Cache-Control": {"description": "`no-store`", "schema": string()},
                }),
             **problems(401, 403, 404)},
            description="For the owner and buyers whose purchase completed; others get "
                        "403.",
            security=SIGNED_IN, parameters=[PICTURE_ID],
        )},
        f"{API}/downloads/{{picture_id}}": {"get": operation(
            "downloadOriginal", "purchases", "A signed download link (local storage)",
            {"200": {
                "description": "The original image, as an attachment.",
                "content": {kind: {"schema": string(format="binary")}
                            for kind in image_types},
                "headers": {"Content-Disposition": {
                    "description": "`attachment; filename=\"<picture_id>\"`",
                    "schema": string()}},
            },
             **problems(403, 404)},
            description="The link GET /api/v1/pictures/{picture_id}/original redirects "
                        "to when originals are in the local directory store (S3 signs its "
                        "own links). 403 when the link is invalid or has expired.",
            parameters=[
                PICTURE_ID,
                query("expires", {"type": "integer"},
                      "When the link expires, in seconds since the Unix epoch."),
                query("signature", string(), "The link's signature."),
            ],
        )},
    }


def ops_paths() -> dict[str, Any]:
    readiness = schema_ref("Readiness")
    return {
        "/healthz": {"get": operation(
            "healthz", "operations", "Liveness",
            {"200": response("The process answers.", schema_ref("Liveness"))},
        )},
        "/readyz": {"get": operation(
            "readyz", "operations", "Readiness of each dependency",
            {"200": response("Every dependency answered.", readiness),
             "503": response("Some dependency did not answer; `checks` says which.",
                             readiness)},
        )},
        "/metrics": {"get": operation(
            "metrics", "operations", "Prometheus metrics",
            {"200": response("Prometheus text exposition format.", string(),
                             media_type="text/plain")},
        )},
        f"{API}/openapi.json": {"get": operation(
            "getOpenApiDocument", "operations", "This OpenAPI document",
            {"200": response("The OpenAPI 3.1 document.", {"type": "object"})},
        )},
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the edge, built once (do not mutate the answer)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Picasso", "version": "1.0.0", "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "accounts", "description": "Sign-up, sign-in, the caller's profile "
                                                "and which mail they get."},
            {"name": "pictures", "description": "Upload, edit, delete and read pictures."},
            {"name": "likes", "description": "Likes, each one a command."},
            {"name": "purchases", "description": "Buying originals, refunds, Stripe's "
                                                 "webhook, purchases, sales and downloads."},
            {"name": "operations", "description": "Health, readiness, metrics and this "
                                                  "document."},
        ],
        "paths": {**account_paths(), **session_paths(), **picture_paths(), **like_paths(),
                  **purchase_paths(), **ops_paths()},
        "components": components(),
    }
