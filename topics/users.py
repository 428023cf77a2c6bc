"""User records: facts about accounts, emitted by the edge when Firebase Auth changes them."""

from __future__ import annotations

from topics import USERS_EVENTS
from topics.record import DISPLAY_NAME, EMAIL, ID, Record

USER_REGISTERED = Record(
    "users", "UserRegistered", USERS_EVENTS, "event",
    "A person created an account.",
    {"user_id": ID, "email": EMAIL, "display_name": DISPLAY_NAME},
    ("user_id", "email", "display_name"),
)
USER_UPDATED = Record(
    "users", "UserUpdated", USERS_EVENTS, "event",
    "A person changed their profile; only the changed fields are present.",
    {"user_id": ID, "email": EMAIL, "display_name": DISPLAY_NAME},
    ("user_id",),
)

RECORDS = (USER_REGISTERED, USER_UPDATED)
