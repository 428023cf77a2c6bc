"""Picture records: commands to the uploads agent and the events it emits."""

from __future__ import annotations

from topics import PICTURES_COMMANDS, PICTURES_EVENTS
from topics.record import COUNT, CURRENCY, ID, KEY_ID, KEY_SEGMENT, TIMESTAMP, Record

# The facts about a picture's fields: the records' schemas below, the edge's checks
# (web.validation) and the OpenAPI document are all built from these.
TITLE_MAX = 140
DESCRIPTION_MAX = 2000
PRICE_MIN = 50  # cents; 0 is free, and a non-zero price is at least this
PRICE_MAX = 100_000_000
TAGS_MAX = 20
TAG_MAX = 32  # characters of one tag
TAG_PATTERN = f"^[a-z0-9][a-z0-9_-]{{0,{TAG_MAX - 1}}}$"
# The currencies a picture can be priced in. Each is a Stripe presentment currency whose
# minimum charge is at most 50 of its smallest unit, so every non-zero price the contract
# allows (PRICE_MIN and more) can be charged. (Stripe checks the minimum again after
# converting to the settlement currency; a refusal there fails the purchase with Stripe's
# reason.) Facts about sales keep CURRENCY (any ISO code), so that shortening this list
# never makes a recorded event invalid.
CURRENCIES: tuple[str, ...] = ("aud", "cad", "chf", "eur", "gbp", "jpy", "nzd", "sgd", "usd")
# The image formats Picasso publishes, each with its media type: an upload in any other
# format is refused.
IMAGE_FORMATS: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

TITLE = {"type": "string", "minLength": 1, "maxLength": TITLE_MAX}
DESCRIPTION = {"type": "string", "maxLength": DESCRIPTION_MAX}
PRICE_CENTS = {
    "type": "integer",
    "maximum": PRICE_MAX,
    "anyOf": [{"const": 0}, {"minimum": PRICE_MIN}],
    "description": f"integer cents; 0 is free, otherwise at least {PRICE_MIN}",
}
SALE_CURRENCY = {"enum": list(CURRENCIES), "description": "a currency Picasso sells in"}
TAGS = {
    "type": "array",
    "maxItems": TAGS_MAX,
    "uniqueItems": True,
    "items": {"type": "string", "pattern": TAG_PATTERN},
}
# What a picture's owner may change after the upload (UpdatePicture, PATCH on the edge).
EDITABLE_FIELDS = {"title": TITLE, "description": DESCRIPTION, "price_cents": PRICE_CENTS,
                   "tags": TAGS}
EDITABLE: tuple[str, ...] = tuple(EDITABLE_FIELDS)
# A picture's life in the pictures read model: uploaded, then published or rejected; deleted.
PICTURE_STATUSES = ("processing", "published", "rejected", "deleted")

INCOMING_PREFIX = "incoming/"
# Where an upload's original waits for the uploads agent: the uploader's own area.
INCOMING_KEY = f"^{INCOMING_PREFIX}{KEY_SEGMENT}/{KEY_SEGMENT}$"


def incoming_key(owner_id: str, picture_id: str) -> str:
    """The blob key an upload of ``picture_id`` by ``owner_id`` is put under (and must be)."""
    return f"{INCOMING_PREFIX}{owner_id}/{picture_id}"


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
        **EDITABLE_FIELDS,
    },
    ("picture_id", "owner_id", "blob_key", "title", "price_cents", "currency"),
)
UPDATE_PICTURE = Record(
    "pictures", "UpdatePicture", PICTURES_COMMANDS, "command",
    "Change a picture's title, description, price or tags; only its owner may.",
    {"picture_id": ID, "user_id": ID, **EDITABLE_FIELDS},
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
    **EDITABLE_FIELDS,
    "width": COUNT,
    "height": COUNT,
    "format": {"enum": list(IMAGE_FORMATS)},
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
    {"picture_id": ID, "owner_id": ID, "preview_key": {"type": "string"}, **EDITABLE_FIELDS},
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
    "An upload or a change was refused; reason says why in words a person can act on. "
    "The upload's other fields (currency, description, price_cents, tags, created_at) come "
    "too, so that the pictures read model can be made again from these events.",
    {"picture_id": ID, "owner_id": ID, "command_id": ID, "title": TITLE,
     "reason": {"type": "string"}, "currency": SALE_CURRENCY, "description": DESCRIPTION,
     "price_cents": PRICE_CENTS, "tags": TAGS, "created_at": TIMESTAMP},
    ("picture_id", "reason"),
)

RECORDS = (
    UPLOAD_PICTURE, UPDATE_PICTURE, DELETE_PICTURE,
    PICTURE_PUBLISHED, PICTURE_UPDATED, PICTURE_DELETED, PICTURE_REJECTED,
)
