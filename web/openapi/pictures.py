"""The OpenAPI document's pictures: upload, the feed, one picture, edits and deletes
(``web.routes.pictures``). The fields' limits are the contract's (``topics.pictures``)."""

from __future__ import annotations

from typing import Any

from topics.pictures import (
    CURRENCIES,
    DESCRIPTION,
    DESCRIPTION_MAX,
    IMAGE_FORMATS,
    PICTURE_STATUSES,
    PRICE_CENTS,
    PRICE_MAX,
    PRICE_MIN,
    TAG_MAX,
    TAGS,
    TAGS_MAX,
    TITLE,
    TITLE_MAX,
)
from topics.trending import BUCKET_S, DEFAULT_WINDOW, RANKED_MAX, SORTS, WEIGHTS, WINDOWS
from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    PICTURE_ID,
    SIGNED_IN,
    Schema,
    accepted,
    currency_schema,
    json_body,
    nullable,
    obj,
    operation,
    path_param,
    problems,
    query,
    response,
    schema_ref,
    string,
)
from web.readmodels import MAX_WAIT_MS
from web.validation import FORM_FIELD_MAX_BYTES, FORM_FIELDS_MAX, FORM_FIELDS_MAX_BYTES

LIMIT_DEFAULT, LIMIT_MAX = 20, 100


def price_schema() -> Schema:
    return {**PRICE_CENTS, "description": f"Price in cents of `currency`: 0 for free, else "
                                          f"{PRICE_MIN} to {PRICE_MAX}."}


def title_schema() -> Schema:
    return {**TITLE,
            "description": f"1 to {TITLE_MAX} characters (surrounding blanks are trimmed)."}


def description_schema() -> Schema:
    return {**DESCRIPTION, "description": f"At most {DESCRIPTION_MAX} characters."}


def tags_schema() -> Schema:
    item = f"Lower case letters, digits, `-` or `_`; at most {TAG_MAX} characters."
    return {**TAGS, "items": {**TAGS["items"], "description": item}}


def tags_text_schema() -> Schema:
    return string(f"Comma separated tags (at most {TAGS_MAX}); each is lower-cased, and "
                  f"must then be letters, digits, `-` or `_`, at most {TAG_MAX} characters.",
                  examples=["sunset,beach"])


def schemas() -> dict[str, Schema]:
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
        "currency": currency_schema(),
        "tags": {"type": "array", "items": string()},
        "status": string(enum=list(PICTURE_STATUSES)),
        "reason": nullable(string("Why the picture was rejected (only when rejected).")),
        "width": nullable({"type": "integer", "minimum": 1}),
        "height": nullable({"type": "integer", "minimum": 1}),
        "thumbnail_url": nullable(string("Public, downscaled, watermarked when priced, "
                                         "without EXIF or GPS data.")),
        "preview_url": nullable(string("Public, downscaled, watermarked when priced, "
                                       "without EXIF or GPS data.")),
        "like_count": {"type": "integer", "minimum": 0},
        "comment_count": {"type": "integer", "minimum": 0},
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


def feed_parameters() -> list[dict[str, Any]]:
    return [
        query("limit", {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX,
                        "default": LIMIT_DEFAULT}, "How many pictures per page."),
        query("cursor", string(), "The opaque `next_cursor` of the previous page, as "
                                  "given; any other value (made up or altered) is a 400."),
        query("tag", string(), "Only pictures with this tag (case does not matter)."),
    ]


def _duration(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} hours" if hours and not minutes else f"{seconds // 60} minutes"


TRENDING_DESCRIPTION = (
    "Newest first by default. With `sort=trending`, the pictures with the most recent "
    "activity over the `window` (the last hour or the last day), highest first: each like "
    f"weighs {WEIGHTS['like']:g}, each comment {WEIGHTS['comment']:g} and each completed "
    f"purchase {WEIGHTS['purchase']:g}, counted in {BUCKET_S // 60}-minute buckets whose "
    "weight halves every " + " and every ".join(
        f"{_duration(w.half_life_s)} (`{w.name}`)" for w in WINDOWS.values())
    + f". At most {RANKED_MAX} pictures are ranked per window; the ranking follows new activity "
    "within a few seconds, and `next_cursor` goes on from the last picture's place in "
    "it. `owner` and `tag` narrow either order.")


def sort_parameters() -> list[dict[str, Any]]:
    return [
        query("sort", string(enum=list(SORTS), default=SORTS[0]),
              "`newest` (the feed) or `trending`."),
        query("window", string(enum=list(WINDOWS), default=DEFAULT_WINDOW),
              "With `sort=trending` only (else 422): rank by the last hour's or the last "
              "day's activity."),
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


def paths() -> dict[str, Any]:
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
                        "contentType": ", ".join(IMAGE_FORMATS.values())}},
                }}},
            ),
            "get": operation(
                "listPictures", "pictures", "The feed of published pictures",
                {"200": response("A page of published pictures, newest first, or trending "
                                 "first with `sort=trending`.", schema_ref("PicturePage")),
                 **problems(400, 401, 422)},
                description=TRENDING_DESCRIPTION,
                security=OPTIONAL_SIGN_IN,
                parameters=[*feed_parameters(), owner, *sort_parameters()],
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
