"""Pictures: upload (streamed to blob storage, then a command), edit, delete, and reads."""

from __future__ import annotations

from typing import AsyncIterator

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from picasso.blobs import BlobTooLarge
from picasso.imageformat import sniff_format
from picasso.numbers import whole_number
from topics.envelope import new_id
from topics.pictures import DELETE_PICTURE, UPDATE_PICTURE, UPLOAD_PICTURE, incoming_key
from topics.trending import DEFAULT_WINDOW, SORTS, WINDOWS
from web import validation
from web.problems import Problem
from web.services import (
    Services,
    identity,
    json_object,
    long_poll,
    may_be_signed_in,
    optional_identity,
    services,
)
from web.trending import trending_json

routes = web.RouteTableDef()
_CHUNK = 256 * 1024
_SNIFF_BYTES = 16


def _location(picture_id: str) -> str:
    return f"/api/v1/pictures/{picture_id}"


async def _file_chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    """The file part's bytes, refusing at once what is not a JPEG, PNG or WebP."""
    head = b""
    while len(head) < _SNIFF_BYTES:
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            break
        head += chunk
    if sniff_format(head) is None:
        raise Problem(415, "the file is not a JPEG, PNG or WebP image")
    yield head
    while chunk := await part.read_chunk(_CHUNK):
        yield chunk


async def _field_text(part: BodyPartReader, budget: int) -> str:
    """A text field's value, refused (413) past its own limit or the ``budget`` of bytes
    left for all fields: read as it arrives, so a chunked body is held to it too."""
    data = bytearray()
    while chunk := await part.read_chunk(4096):
        data += chunk
        if len(data) > validation.FORM_FIELD_MAX_BYTES:
            raise Problem(413, f"the form field {part.name!r} is longer than "
                               f"{validation.FORM_FIELD_MAX_BYTES} bytes")
        if len(data) > budget:
            raise Problem(413, f"the form fields are longer than "
                               f"{validation.FORM_FIELDS_MAX_BYTES} bytes together")
    try:
        return data.decode(part.get_charset("utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise Problem(422, f"{part.name}: not valid text",
                      errors={part.name: "not valid text"}) from None


@routes.post("/api/v1/pictures")
async def upload_picture(request: web.Request) -> web.Response:
    who = await identity(request)
    s = services(request)
    s.limits.uploads.check(who.user_id)
    limit = s.settings.max_upload_bytes
    most = limit + validation.FORM_FIELDS_MAX_BYTES + validation.FORM_FRAMING_MAX_BYTES
    if request.content_length is not None and request.content_length > most:
        raise Problem(413, f"the upload is larger than {limit} bytes")
    if request.content_type != "multipart/form-data":
        raise Problem(415, "send the picture as multipart/form-data with a 'file' part")
    picture_id = new_id()
    blob_key = incoming_key(who.user_id, picture_id)
    form: dict[str, str] = {}
    field_count = 0
    field_bytes = 0
    stored = False
    try:
        try:
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    raise Problem(400, "nested multipart bodies are not accepted")
                if part.name == "file":
                    if stored:
                        raise Problem(400, "send exactly one 'file' part")
                    stored = True
                    await s.blobs.put_stream(blob_key, _file_chunks(part),
                                             "application/octet-stream", limit)
                else:
                    field_count += 1
                    if field_count > validation.FORM_FIELDS_MAX:
                        raise Problem(422, f"the form has more than {validation.FORM_FIELDS_MAX}"
                                           " fields besides the file")
                    text = await _field_text(part, validation.FORM_FIELDS_MAX_BYTES - field_bytes)
                    field_bytes += len(text.encode())
                    form[part.name or ""] = text
        except BlobTooLarge:
            raise Problem(413, f"the file is larger than {limit} bytes") from None
        except (ValueError, HttpProcessingError) as exc:  # malformed framing or part headers
            raise Problem(400, f"the multipart body is malformed: {exc}") from None
        if not stored:
            raise Problem(400, "the form has no 'file' part")
        fields = validation.new_picture(form)
        command = await s.send(UPLOAD_PICTURE, picture_id, {
            "picture_id": picture_id, "owner_id": who.user_id, "blob_key": blob_key, **fields,
        })
    except BaseException:
        if stored:
            await s.blobs.delete(blob_key)
        raise
    return web.json_response(
        {"picture_id": picture_id, "status": "processing", "command_id": command.id},
        status=202, headers={"Location": _location(picture_id)},
    )


def page_limit(request: web.Request) -> int:
    """The ``limit`` of a paged list: 1 to 100, 20 when not given; otherwise a 422."""
    limit = whole_number(request.query.get("limit", "20"))
    if limit is None or not 1 <= limit <= 100:
        raise Problem(422, "limit must be a whole number from 1 to 100",
                      errors={"limit": "1 to 100"})
    return limit


async def _feed(request: web.Request, owner: str | None) -> web.Response:
    # The anonymous feed is the most read answer: not even a coroutine for its identity.
    viewer = await optional_identity(request) if may_be_signed_in(request) else None
    body = await services(request).read.feed_json(
        limit=page_limit(request), cursor=request.query.get("cursor") or None,
        owner=owner, tag=(request.query.get("tag") or "").lower() or None,
        viewer=viewer.user_id if viewer else None,
    )
    return web.Response(body=body, content_type="application/json")


def _sort(request: web.Request) -> tuple[str, str | None]:
    """The feed's order (``sort``, newest by default) and, for trending, its ``window``."""
    sort = request.query.get("sort") or "newest"
    if sort not in SORTS:
        raise Problem(422, f"sort must be one of {', '.join(SORTS)}",
                      errors={"sort": f"one of {', '.join(SORTS)}"})
    window = request.query.get("window")
    if sort != "trending":
        if window is not None:
            raise Problem(422, "window applies to sort=trending only",
                          errors={"window": "only with sort=trending"})
        return sort, None
    if (window or DEFAULT_WINDOW) not in WINDOWS:
        raise Problem(422, f"window must be one of {', '.join(WINDOWS)}",
                      errors={"window": f"one of {', '.join(WINDOWS)}"})
    return sort, window or DEFAULT_WINDOW


@routes.get("/api/v1/pictures")
async def list_pictures(request: web.Request) -> web.Response:
    sort, window = _sort(request)
    if window is None:
        return await _feed(request, request.query.get("owner") or None)
    viewer = await optional_identity(request)
    body = await trending_json(
        services(request).read, window=window, limit=page_limit(request),
        cursor=request.query.get("cursor") or None,
        owner=request.query.get("owner") or None,
        tag=(request.query.get("tag") or "").lower() or None,
        viewer=viewer.user_id if viewer else None)
    return web.Response(body=body, content_type="application/json")


@routes.get("/api/v1/users/{user_id}/pictures")
async def user_pictures(request: web.Request) -> web.Response:
    return await _feed(request, request.match_info["user_id"])


@routes.get("/api/v1/pictures/{picture_id}")
async def get_picture(request: web.Request) -> web.Response:
    viewer = await optional_identity(request)
    viewer_id = viewer.user_id if viewer else None
    s = services(request)
    picture_id = request.match_info["picture_id"]
    after = request.query.get("after")

    def visible(doc: dict | None) -> bool:
        return doc is not None and (doc["status"] == "published" or doc["owner_id"] == viewer_id)

    async def settled() -> dict | None:
        # The same for every viewer, so that all who wait on this picture share the check.
        # The command first, then the picture: read the other way round, a command applied
        # between the two reads would answer the picture as it was before it.
        if after and not await s.read.command_applied(after):
            return None
        doc = await s.read.picture_doc(picture_id)
        if doc is None or doc["status"] == "processing":
            return None
        return doc

    doc = await long_poll(request, ("picture", picture_id, after), settled)
    if doc is None:
        doc = await s.read.picture_doc(picture_id)
    if not visible(doc):
        raise Problem(404, f"there is no picture {picture_id}")
    [picture] = await s.read.shape([doc], viewer_id)
    return web.json_response(picture)


async def _owned(request: web.Request) -> tuple[Services, str, str]:
    who = await identity(request)
    s = services(request)
    picture_id = request.match_info["picture_id"]
    doc = await s.read.picture_doc(picture_id)
    if doc is None or (doc["status"] != "published" and doc["owner_id"] != who.user_id):
        raise Problem(404, f"there is no picture {picture_id}")
    if doc["owner_id"] != who.user_id:
        raise Problem(403, "only the picture's owner may change it")
    if doc["status"] == "deleted":
        raise Problem(409, f"picture {picture_id} is deleted")
    return s, picture_id, who.user_id


def _accepted(picture_id: str, command_id: str, status: str) -> web.Response:
    return web.json_response(
        {"picture_id": picture_id, "status": status, "command_id": command_id},
        status=202, headers={"Location": f"{_location(picture_id)}?after={command_id}"},
    )


@routes.patch("/api/v1/pictures/{picture_id}")
async def update_picture(request: web.Request) -> web.Response:
    s, picture_id, user_id = await _owned(request)
    changes = validation.picture_changes(await json_object(request))
    command = await s.send(UPDATE_PICTURE, picture_id,
                           {"picture_id": picture_id, "user_id": user_id, **changes})
    return _accepted(picture_id, command.id, "updating")


@routes.delete("/api/v1/pictures/{picture_id}")
async def delete_picture(request: web.Request) -> web.Response:
    s, picture_id, user_id = await _owned(request)
    command = await s.send(DELETE_PICTURE, picture_id,
                           {"picture_id": picture_id, "user_id": user_id})
    return _accepted(picture_id, command.id, "deleting")
