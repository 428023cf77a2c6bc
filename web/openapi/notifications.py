"""The OpenAPI document's notifications (``web.routes.notifications``): the list and the
unread count are the notifications service's read model; marking read is a command. The
kinds and the limit of ids per mark are the contract's (``topics.notifications``)."""

from __future__ import annotations

from typing import Any

from topics.notifications import IDS_MAX, KINDS
from topics.record import ID
from web.openapi.common import (
    API,
    SIGNED_IN,
    Schema,
    accepted,
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
from web.openapi.pictures import LIMIT_DEFAULT, LIMIT_MAX
from web.readmodels import MAX_WAIT_MS

ME = f"{API}/me/notifications"
AFTER = [
    query("after", string(), "A `command_id` from a 202 answer (marking read): wait (with "
                             "`wait_ms`) until that command is applied."),
    query("wait_ms", {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_MS, "default": 0},
          "With `after`: hold the answer up to this many milliseconds until the command is "
          "applied; then answer what there is."),
]


def schemas() -> dict[str, Schema]:
    person = obj({"user_id": string(), "display_name": nullable(string())})
    return {
        "Notification": obj({
            "notification_id": string("Opaque; pass it to mark the notification read."),
            "kind": {"enum": list(KINDS), "description":
                     "followed: someone followed you; liked: people liked your picture (one "
                     "notification per picture, bumped and unread again at each new liker); "
                     "commented; sold: someone bought your picture; purchase_completed and "
                     "purchase_failed: your purchase; picture_published and "
                     "picture_rejected: your upload."},
            "read": {"type": "boolean"},
            "at": string("When it last had activity (a new liker bumps a likes "
                         "notification).", format="date-time"),
            "actors": {"type": "array", "items": person, "description":
                       "Who did it; for likes the latest likers, newest first (at most 3)."},
            "count": {"type": "integer", "minimum": 1,
                      "description": "For likes, how many people like the picture; else 1."},
            "picture": nullable(obj({"picture_id": string(), "title": nullable(string())})),
            "comment_id": string(),
            "text": string("The comment's first 140 characters, plain text."),
            "purchase_id": string(),
            "amount_cents": {"type": "integer", "minimum": 0},
            "currency": string(),
            "reason": string("Why a purchase failed or an upload was rejected."),
        }, required=["notification_id", "kind", "read", "at", "actors", "count", "picture"],
            description="Something that concerns the caller; never something they did "
                        "themselves."),
        "NotificationPage": obj({
            "items": {"type": "array", "items": schema_ref("Notification")},
            "next_cursor": nullable(string("Opaque, signed by the edge: pass it as `cursor` "
                                           "for the next page; null on the last page.")),
        }, description="The caller's notifications, latest activity first."),
        "UnreadCount": obj({"unread": {"type": "integer", "minimum": 0}}),
        "MarkRead": {
            "oneOf": [
                obj({"ids": {"type": "array", "items": ID, "minItems": 1,
                             "maxItems": IDS_MAX}}, closed=True),
                obj({"all": {"const": True}}, closed=True),
            ],
            "description": "Which notifications to mark read: some by id, or all of them "
                           "(those with activity after the command stay unread).",
        },
        "MarkReadAccepted": obj({
            "command_id": string(f"Pass as `after` to GET {ME} or its unread_count."),
        }, description="The command was accepted by the broker; it is applied later."),
    }


def paths() -> dict[str, Any]:
    return {
        ME: {"get": operation(
            "listNotifications", "notifications", "The caller's notifications",
            {"200": response("A page of notifications, latest activity first.",
                             schema_ref("NotificationPage")),
             **problems(400, 401, 422, 503)},
            description="Display names are the users' current ones.",
            security=SIGNED_IN,
            parameters=[
                query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                                "default": LIMIT_DEFAULT}, "How many per page."),
                query("cursor", string(), "The opaque `next_cursor` of the previous page, "
                                          "as given; any other value is a 400."),
                *AFTER,
            ],
        )},
        f"{ME}/unread_count": {"get": operation(
            "countUnreadNotifications", "notifications", "How many are unread",
            {"200": response("The number of unread notifications.",
                             schema_ref("UnreadCount")),
             **problems(401, 422, 503)},
            security=SIGNED_IN, parameters=AFTER,
        )},
        f"{ME}/read": {"post": operation(
            "markNotificationsRead", "notifications", "Mark notifications read",
            {**accepted("MarkReadAccepted", "Accepted; the notifications read as read once "
                                            "applied. `Location` is the list, with "
                                            "`?after=<command_id>`."),
             **problems(400, 401, 422, 503)},
            description="Ids that are not the caller's change nothing.",
            security=SIGNED_IN, request_body=json_body(schema_ref("MarkRead")),
        )},
    }
