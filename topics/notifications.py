"""Notification records: a person marking their in-app notifications read, and the fact
that a person's notifications changed.

The notifications themselves are not records: the notifications service builds them from
other domains' facts (follows, likes, comments, purchases, uploads) into its read model.
Commands and facts are keyed by the person, so one person's marks are applied in order.
"""

from __future__ import annotations

from topics import NOTIFICATIONS_COMMANDS, NOTIFICATIONS_EVENTS
from topics.record import ID, Record

# The kinds of notification the notifications service makes (its read model's ``kind``).
KINDS: tuple[str, ...] = (
    "followed", "liked", "commented", "sold", "purchase_completed", "purchase_failed",
    "picture_published", "picture_rejected",
)
# How many notifications one command may name.
IDS_MAX = 100

MARK_NOTIFICATIONS_READ = Record(
    "notifications", "MarkNotificationsRead", NOTIFICATIONS_COMMANDS, "command",
    "A person marks some of their notifications read (notification_ids), or all of them "
    "(all: true) as of the command's time; ids that are not theirs change nothing.",
    {
        "user_id": ID,
        "notification_ids": {"type": "array", "items": ID, "minItems": 1,
                             "maxItems": IDS_MAX, "uniqueItems": True},
        "all": {"const": True},
    },
    ("user_id",),
)

# Why a person's notifications changed: one was made or came back unread, some were marked
# read, or a deleted picture took some along.
CHANGES: tuple[str, ...] = ("added", "read", "removed")

NOTIFICATIONS_CHANGED = Record(
    "notifications", "NotificationsChanged", NOTIFICATIONS_EVENTS, "event",
    "user_id's notifications changed (change: added, read, or removed), sent once the "
    "notifications read model holds the change; it carries no count: the read model is the "
    "truth. A hint for live clients (the edge's GET /api/v1/live): a worker that dies "
    "between its write and this event does not send it again.",
    {"user_id": ID, "change": {"enum": list(CHANGES)}},
    ("user_id", "change"),
)

RECORDS = (MARK_NOTIFICATIONS_READ, NOTIFICATIONS_CHANGED)
