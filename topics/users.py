"""User records: facts about accounts, emitted by the edge when Firebase Auth changes them."""

from __future__ import annotations

from topics import USERS_EVENTS
from topics.record import ID, Record

# The facts about a person's fields: the records' schemas below, the edge's sign-up check
# (web.validation) and the OpenAPI document are all built from these. The edge is the only
# producer of these records, and it checks with the same pattern, so every email it
# accepts fits the contract.
EMAIL_MAX = 254
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
DISPLAY_NAME_MAX = 80
# A short bio: plain text, stored as given (never interpreted as HTML; pages escape it).
BIO_MAX = 160

EMAIL = {"type": "string", "maxLength": EMAIL_MAX, "pattern": EMAIL_PATTERN}
DISPLAY_NAME = {"type": "string", "minLength": 1, "maxLength": DISPLAY_NAME_MAX}
BIO = {"type": "string", "maxLength": BIO_MAX}
# The avatar is one of the person's own published pictures (its thumbnail); null: none.
AVATAR_PICTURE_ID = {"anyOf": [ID, {"type": "null"}]}

USER_REGISTERED = Record(
    "users", "UserRegistered", USERS_EVENTS, "event",
    "A person created an account.",
    {"user_id": ID, "email": EMAIL, "display_name": DISPLAY_NAME},
    ("user_id", "email", "display_name"),
)
USER_UPDATED = Record(
    "users", "UserUpdated", USERS_EVENTS, "event",
    "A person changed their profile; only the changed fields are present. bio is plain "
    "text (empty: none); avatar_picture_id names one of their published pictures (null: "
    "none).",
    {"user_id": ID, "email": EMAIL, "display_name": DISPLAY_NAME, "bio": BIO,
     "avatar_picture_id": AVATAR_PICTURE_ID},
    ("user_id",),
)


# Mail a person may turn off (``PATCH /api/v1/me``). Receipts, payment-failed notices and the
# welcome mail are always sent, so they are not listed.
NOTIFICATION_KINDS: tuple[str, ...] = ("commented", "followed", "picture_published",
                                       "picture_rejected", "picture_sold")
# Kinds that are off until a person turns them on: news of other people (a follow, a comment)
# can come many times a day. There is never mail for a like.
QUIET_KINDS: tuple[str, ...] = ("followed", "commented")


def mail_wanted(kind: str, preferences: dict | None) -> bool:
    """Whether a person gets mail of ``kind``, from their preferences as set: a kind never
    set is on, but the quiet kinds are off."""
    chosen = (preferences or {}).get(kind)
    return chosen if isinstance(chosen, bool) else kind not in QUIET_KINDS

USER_PREFERENCES_CHANGED = Record(
    "users", "UserPreferencesChanged", USERS_EVENTS, "event",
    "A person turned kinds of notification mail on (true) or off (false); only the changed "
    "kinds are present. Kinds never set are on, but followed and commented are off.",
    {
        "user_id": ID,
        "preferences": {
            "type": "object",
            "properties": {kind: {"type": "boolean"} for kind in NOTIFICATION_KINDS},
            "additionalProperties": False,
            "minProperties": 1,
        },
    },
    ("user_id", "preferences"),
)

RECORDS = (USER_REGISTERED, USER_UPDATED, USER_PREFERENCES_CHANGED)
