"""The pictures read model, made again from the uploads service's own records.

``faust -A agents.uploads.app rebuild pictures [--dry-run]`` (see :mod:`picasso.ops.rebuild`).

The source of truth is the uploads inbox (``uploads_processed``): for every command the
service applied, the events it caused, in the order applied, with the command's time.
A picture is its ``PicturePublished`` (or ``PictureRejected``, which carries the upload's
fields), then each ``PictureUpdated``'s changes (``updated_at``: that command's time), then
its ``PictureDeleted`` (``deleted_at``). A change applied while the upload was still being
processed is laid over the published fields, as the agent did. Uploads still being processed
(no record yet) are taken from the live collection as they are.
"""

from __future__ import annotations

from typing import AsyncIterator, Iterable

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from agents.uploads.pictures import ensure_indexes
from picasso.mongo import PICTURES, UPLOADS_PROCESSED
from picasso.ops.rebuild import IN_MAX, ReadModel
from topics.pictures import (
    EDITABLE,
    IMAGE_FORMATS,
    PICTURE_DELETED,
    PICTURE_PUBLISHED,
    PICTURE_REJECTED,
    PICTURE_UPDATED,
)

_KEYS = ("original_key", "thumbnail_key", "preview_key")


class _Picture:
    """One picture's document as its records make it, in the order they were applied."""

    def __init__(self) -> None:
        self.doc: dict | None = None
        self.early: dict = {}  # changes applied before the upload's outcome was recorded

    def apply(self, record: dict) -> None:
        for event in record.get("events", ()):
            self._event(event, record)

    def _event(self, event: dict, record: dict) -> None:
        d, type_ = event["data"], event["type"]
        when = record.get("time") or event.get("time")
        if type_ in (PICTURE_PUBLISHED.type, PICTURE_REJECTED.type):
            doc = {"_id": d["picture_id"], "owner_id": d["owner_id"],
                   "currency": d.get("currency"), "created_at": d.get("created_at"),
                   "upload_command_id": record["_id"],
                   **{k: d.get(k) for k in EDITABLE}}
            if type_ == PICTURE_PUBLISHED.type:
                doc.update({"status": "published", "width": d["width"], "height": d["height"],
                            "format": d["format"], "content_type": IMAGE_FORMATS[d["format"]],
                            **{k: d[k] for k in _KEYS}})
            else:
                doc.update({"status": "rejected", "reason": d["reason"]})
            doc.update(self.early)
            self.doc = doc
        elif type_ == PICTURE_UPDATED.type:
            changes = {k: d[k] for k in (*EDITABLE, "preview_key") if k in d}
            if not changes:
                return
            changes["updated_at"] = when
            if self.doc is None:
                self.early.update(changes)
            else:
                self.doc.update(changes)
        elif type_ == PICTURE_DELETED.type and self.doc is not None:
            self.doc.update({"status": "deleted", "deleted_at": when})


def _fold(records: Iterable[dict]) -> dict[str, _Picture]:
    pictures: dict[str, _Picture] = {}
    for record in records:
        if record.get("subject"):
            pictures.setdefault(record["subject"], _Picture()).apply(record)
    return pictures


async def _records(db: AsyncIOMotorDatabase, query: dict) -> list[dict]:
    found = db[UPLOADS_PROCESSED].find(query, {"sent": 0}).sort("applied_at", 1)
    return [doc async for doc in found]


async def _in_flight(db: AsyncIOMotorDatabase, ids: list[str] | None) -> dict[str, dict]:
    """Uploads being processed now, as the live collection has them."""
    query: dict = {"status": "processing"}
    if ids is not None:
        query["_id"] = {"$in": ids}
    return {doc["_id"]: doc async for doc in db[PICTURES].find(query)}


async def everything(db: AsyncIOMotorDatabase) -> AsyncIterator[tuple[str, dict | None]]:
    made: dict[str, _Picture] = {}
    async for record in db[UPLOADS_PROCESSED].find({}, {"sent": 0}).sort("applied_at", 1):
        if record.get("subject"):
            made.setdefault(record["subject"], _Picture()).apply(record)
    for picture_id, picture in made.items():
        yield picture_id, picture.doc
    for picture_id, doc in (await _in_flight(db, None)).items():
        if made.get(picture_id) is None or made[picture_id].doc is None:
            yield picture_id, doc


async def some(db: AsyncIOMotorDatabase, ids: list[str]) -> dict[str, dict]:
    docs = await _in_flight(db, ids)
    for start in range(0, len(ids), IN_MAX):
        part = ids[start:start + IN_MAX]
        for picture_id, picture in _fold(await _records(db, {"subject": {"$in": part}})).items():
            if picture.doc is not None:
                docs[picture_id] = picture.doc
    return docs


async def _indexes(collection: AsyncIOMotorCollection) -> None:
    await ensure_indexes(collection.database, collection.name)
    # The catch-up reads a picture's records by its id.
    await collection.database[UPLOADS_PROCESSED].create_index("subject")


PICTURES_MODEL = ReadModel(
    name=PICTURES, inbox=UPLOADS_PROCESSED,
    source="the uploads inbox's recorded events (uploads_processed)",
    everything=everything, some=some, ensure_indexes=_indexes,
)
