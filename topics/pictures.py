"""Picture records: commands to the uploads agent and the events it emits."""

from __future__ import annotations

from topics import PICTURES_COMMANDS, PICTURES_EVENTS
from topics.record import (
    COUNT,
    CURRENCY,
    DESCRIPTION,
    ID,
    KEY_ID,
    KEY_SEGMENT,
    PRICE_CENTS,
    SALE_CURRENCY,
    TAGS,
    TIMESTAMP,
    TITLE,
    Record,
)

INCOMING_PREFIX = "incoming/"
# Where an upload's original waits for the uploads agent: the uploader's own area.
INCOMING_KEY = f"^{INCOMING_PREFIX}{KEY_SEGMENT}/{KEY_SEGMENT}$"


def incoming_key(owner_id: str, picture_id: str) -> str:
    """The blob key an upload of ``picture_id`` by ``owner_id`` is put under (and must be)."""
    return f"{INCOMING_PREFIX}{owner_id}/{picture_id}"


_EDITABLE = {"title": TITLE, "description": DESCRIPTION, "price_cents": PRICE_CENTS, "tags": TAGS}

UPLOAD_PICTURE = Record(
    "pictures", "UploadPicture", PICTURES_COMMANDS, "command",
    "Publish a picture whose original bytes are already in blob storage at blob_key, "
    "which is always incoming/<owner_id>/<picture_id>.",
    {
        "picture_id": KEY_ID,
        "owner_id": KEY_ID,
        "blob_key": {"type": "string", "pattern": INCOMING_KEY,
                     "description": "incoming/<owner_id>/<picture_id>"},
        "currency": SALE_CURRENCY,
        **_EDITABLE,
    },
    ("picture_id", "owner_id", "blob_key", "title", "price_cents", "currency"),
)
UPDATE_PICTURE = Record(
    "pictures", "UpdatePicture", PICTURES_COMMANDS, "command",
    "Change a picture's title, description, price or tags; only its owner may.",
    {"picture_id": ID, "user_id": ID, **_EDITABLE},
    ("picture_id", "user_id"),
)
DELETE_PICTURE = Record(
    "pictures", "DeletePicture", PICTURES_COMMANDS, "command",
    "Take a picture out of the feed; buyers keep their right to download. Owner only.",
    {"picture_id": ID, "user_id": ID},
    ("picture_id", "user_id"),
)

_PUBLISHED = {
    "picture_id": ID,
    "owner_id": ID,
    "currency": CURRENCY,
    **_EDITABLE,
    "width": COUNT,
    "height": COUNT,
    "format": {"enum": ["jpeg", "png", "webp"]},
    "original_key": {"type": "string"},
    "thumbnail_key": {"type": "string"},
    "preview_key": {"type": "string"},
    "created_at": TIMESTAMP,
}
PICTURE_PUBLISHED = Record(
    "pictures", "PicturePublished", PICTURES_EVENTS, "event",
    "A picture passed its checks and is in the feed.",
    _PUBLISHED,
    tuple(_PUBLISHED),
)
PICTURE_UPDATED = Record(
    "pictures", "PictureUpdated", PICTURES_EVENTS, "event",
    "A picture's owner changed some of its fields; only the changed fields are present.",
    {"picture_id": ID, "owner_id": ID, "preview_key": {"type": "string"}, **_EDITABLE},
    ("picture_id", "owner_id"),
)
PICTURE_DELETED = Record(
    "pictures", "PictureDeleted", PICTURES_EVENTS, "event",
    "A picture left the feed.",
    {"picture_id": ID, "owner_id": ID},
    ("picture_id", "owner_id"),
)
PICTURE_REJECTED = Record(
    "pictures", "PictureRejected", PICTURES_EVENTS, "event",
    "An upload or a change was refused; reason says why in words a person can act on.",
    {"picture_id": ID, "owner_id": ID, "command_id": ID, "title": TITLE,
     "reason": {"type": "string"}},
    ("picture_id", "reason"),
)

RECORDS = (
    UPLOAD_PICTURE, UPDATE_PICTURE, DELETE_PICTURE,
    PICTURE_PUBLISHED, PICTURE_UPDATED, PICTURE_DELETED, PICTURE_REJECTED,
)
