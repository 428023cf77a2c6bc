"""The served OpenAPI 3.1 document of the edge (``GET /api/v1/openapi.json``).

It describes what the route handlers in ``web.routes`` do: the contract of
``design/API.md`` plus what the edge adds to it (``command_id`` in every 202 answer, the
``Location`` with ``?after=<command_id>``, the ``after`` query of a picture read, the
``errors`` object of 422 problems). Each resource's paths and schemas are in the module
named like its routes (``web.openapi.pictures`` documents ``web.routes.pictures``);
``web.openapi.common`` holds the builders they share. Field limits, patterns and enums come
from the contract (``topics``), as the edge's checks do, so the document, the checks and
the JSON Schemas of the records cannot drift apart on them.

The document is built once, on first use, and the same dict is returned afterwards:
callers must not change it.
"""

from __future__ import annotations

import functools
from typing import Any

from topics.users import NOTIFICATION_KINDS, QUIET_KINDS
from web.openapi import (
    accounts,
    comments,
    common,
    likes,
    live,
    ops,
    people,
    pictures,
    purchases,
    search,
    session,
    timeline,
    ui,
)
from web.openapi import notifications as notices
from web.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from web.readmodels import MAX_WAIT_MS
from web.sessions import CSRF_COOKIE, CSRF_HEADER, ID_COOKIE, REFRESH_COOKIE

# In the order the document lists them.
RESOURCES = (accounts, session, ui, pictures, timeline, likes, comments, people, notices,
             purchases, live, search, ops)

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
a like or an unlike it is `/api/v1/pictures/{{picture_id}}?after=<command_id>`, for a
comment (added or deleted) `/api/v1/pictures/{{picture_id}}/comments?after=<command_id>`.
Reading that address with `wait_ms` holds the answer until the read model has applied the
command (or the time runs out, at most {MAX_WAIT_MS} ms) and then answers what it has.
An upload answers `{{picture_id, status: "processing", command_id}}`; reading the picture
with `wait_ms` waits until it is published or rejected.
While the service that applies likes, comments or follows leaves a queue of them (at least
`BACKLOG_MIN_WAITING`) with the oldest waiting longer than the edge allows
(`BACKLOG_MAX_AGE_S`), the edge refuses new ones at once with `503` and `Retry-After` rather
than queue them behind a growing delay; nothing was changed.

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
notices, refund notices to buyer and seller, and dispute notices to the seller; and,
once turned on, a mail per new follower and per comment on one's pictures (never per like).
`PATCH /api/v1/me` with `{{"preferences": {{"picture_published": false}}}}` turns
a kind off (kinds: {", ".join(f"`{kind}`" for kind in NOTIFICATION_KINDS)};
{" and ".join(f"`{kind}`" for kind in QUIET_KINDS)} are off until turned on); receipts,
payment-failed notices and the welcome mail always go. Every mail that can be turned off
carries a one-click `List-Unsubscribe` link.

**Operations.** `/healthz`, `/readyz` and `/metrics` are at the root, outside `/api/v1`.

**Tracing.** Every answer carries `X-Request-ID` (the client's own when it sent a plain one:
letters, digits, `.`, `_`, `:` and `-`, at most 128) and `traceparent` (W3C Trace Context):
the client's trace continued when it sent a valid `traceparent`, a new one otherwise. The
commands a request causes, the events they cause and the mails those send carry the same
trace; quote either header when reporting a problem.

**Kafka.** Other systems may produce commands and consume events on Picasso's Kafka topics
directly: `GET /api/v1/asyncapi.json` is the AsyncAPI 3.0 document of every topic, its key
and every record with its JSON Schema.
"""


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
            {"name": "timeline", "description": "The home timeline: pictures of the people "
                                                "one follows."},
            {"name": "likes", "description": "Likes, each one a command."},
            {"name": "comments", "description": "Comments on pictures: plain text, added "
                                                "and deleted by commands."},
            {"name": "people", "description": "Profiles, following (each one a command) "
                                              "and the lists of followers and following."},
            {"name": "notifications", "description": "The caller's in-app notifications: "
                                                     "follows, likes, comments, sales, "
                                                     "purchases and uploads."},
            {"name": "purchases", "description": "Buying originals, refunds, Stripe's "
                                                 "webhook, purchases, sales and downloads."},
            {"name": "live", "description": "Live updates of counts, purchases, the bell "
                                            "and the home timeline (Server-Sent Events)."},
            {"name": "search", "description": "Pictures by their words, people by name."},
            {"name": "operations", "description": "Health, readiness, metrics, this "
                                                  "document and the AsyncAPI document of "
                                                  "the Kafka topics."},
        ],
        "paths": {path: item for part in RESOURCES for path, item in part.paths().items()},
        "components": {
            "securitySchemes": common.security_schemes(),
            "schemas": {name: schema for part in (common, *RESOURCES)
                        for name, schema in part.schemas().items()},
            "responses": common.component_responses(),
            "headers": common.component_headers(),
        },
    }
