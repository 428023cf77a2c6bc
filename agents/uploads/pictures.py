"""The uploads domain: turn an uploaded original into a published picture, and edit it.

Every step is idempotent (deterministic keys and renditions, upserts keyed by picture id),
so a redelivered command or a crash half way repeats work without changing the outcome.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.uploads.images import ACCEPTED_FORMATS, ImageRejected, render
from picasso.blobs import BlobNotFound, BlobStore
from picasso.mongo import PICTURES
from picasso.runtime import Rejected
from topics.envelope import CloudEvent
from topics.pictures import (
    DELETE_PICTURE,
    EDITABLE,
    PICTURE_DELETED,
    PICTURE_PUBLISHED,
    PICTURE_REJECTED,
    PICTURE_UPDATED,
    UPDATE_PICTURE,
    UPLOAD_PICTURE,
    incoming_key,
)
from topics.record import Record

SOURCE = "/picasso/agents/uploads"
WATERMARK = "Picasso preview"


def original_key(picture_id: str) -> str:
    return f"originals/{picture_id}"


def thumbnail_key(picture_id: str) -> str:
    return f"public/{picture_id}/thumbnail.jpg"


def preview_key(picture_id: str, watermarked: bool) -> str:
    # Two names, so a browser never shows a cached clean preview of a now-priced picture.
    return f"public/{picture_id}/preview{'-watermarked' if watermarked else ''}.jpg"


async def ensure_indexes(db: AsyncIOMotorDatabase, name: str = PICTURES) -> None:
    """The pictures read model's indexes, on ``name`` (another while it is rebuilt)."""
    pictures = db[name]
    await pictures.create_index([("status", 1), ("created_at", -1), ("_id", -1)])
    await pictures.create_index([("owner_id", 1), ("status", 1), ("created_at", -1), ("_id", -1)])
    await pictures.create_index([("tags", 1), ("status", 1), ("created_at", -1), ("_id", -1)])


@dataclass
class Uploads:
    """The uploads agent's logic over its two stores."""

    db: AsyncIOMotorDatabase
    blobs: BlobStore

    async def handle(self, record: Record, command: CloudEvent) -> list[CloudEvent]:
        if record is UPLOAD_PICTURE:
            return await self.upload(command)
        if record is UPDATE_PICTURE:
            return await self.update(command)
        if record is DELETE_PICTURE:
            return await self.delete(command)
        raise Rejected(f"the uploads agent does not handle {record.type}")

    async def upload(self, command: CloudEvent) -> list[CloudEvent]:
        d = command.data
        picture_id = d["picture_id"]
        # The schema fixes the key's shape; this makes it the uploader's own area, so that
        # no command can publish (and then delete) a blob someone else put there.
        expected_key = incoming_key(d["owner_id"], picture_id)
        if d["blob_key"] != expected_key:
            raise Rejected(f"blob_key must be {expected_key!r}, the uploader's own incoming "
                           f"area, not {d['blob_key']!r}")
        pictures = self.db[PICTURES]
        existing = await pictures.find_one({"_id": picture_id},
                                           {"upload_command_id": 1, "status": 1, "reason": 1})
        if existing and existing.get("upload_command_id") != command.id:
            raise Rejected(f"picture {picture_id} exists already")
        if existing and existing.get("status") == "rejected":
            # Redelivered after the rejection was recorded: finish it with the same reason.
            return await self._reject(command, existing["reason"])
        fields = {k: d.get(k) for k in EDITABLE}
        fields["description"] = fields["description"] or ""
        fields["tags"] = fields["tags"] or []
        await pictures.update_one(
            {"_id": picture_id},
            {"$setOnInsert": {
                **fields, "owner_id": d["owner_id"], "currency": d["currency"],
                "status": "processing", "created_at": command.time,
                "upload_command_id": command.id,
            }},
            upsert=True,
        )
        original = await self._original(picture_id, d["blob_key"])
        if original is None:
            return await self._reject(command, "the uploaded file was not found in storage")
        priced = d["price_cents"] > 0
        try:
            renditions = await asyncio.to_thread(
                render, original, watermark=WATERMARK if priced else None
            )
        except ImageRejected as exc:
            return await self._reject(command, exc.reason)
        keys = {
            "original_key": original_key(picture_id),
            "thumbnail_key": thumbnail_key(picture_id),
            "preview_key": preview_key(picture_id, priced),
        }
        await self.blobs.put(keys["thumbnail_key"], renditions.thumbnail, renditions.content_type)
        await self.blobs.put(keys["preview_key"], renditions.preview, renditions.content_type)
        published = {
            "status": "published", "width": renditions.width, "height": renditions.height,
            "format": renditions.format, "content_type": ACCEPTED_FORMATS[renditions.format],
            **keys,
        }
        await pictures.update_one({"_id": picture_id}, {"$set": published})
        await self.blobs.delete(d["blob_key"])
        data = {
            "picture_id": picture_id, "owner_id": d["owner_id"], "currency": d["currency"],
            **fields, "created_at": command.time,
            **{k: published[k] for k in ("width", "height", "format")}, **keys,
        }
        return [command.caused(PICTURE_PUBLISHED.type, data, SOURCE)]

    async def _original(self, picture_id: str, blob_key: str) -> bytes | None:
        """The original's bytes, moved from where the edge put them to the private area.

        After a crash the move may be done already, so the private copy is tried first.
        """
        try:
            return await self.blobs.get(original_key(picture_id))
        except BlobNotFound:
            pass
        try:
            await self.blobs.copy(blob_key, original_key(picture_id))
        except BlobNotFound:
            return None
        return await self.blobs.get(original_key(picture_id))

    async def _reject(self, command: CloudEvent, reason: str) -> list[CloudEvent]:
        """Record the rejection, then drop both copies of the refused bytes.

        The status is written first, so that a redelivery after a crash in between repeats
        the rejection with its reason rather than finding the bytes gone.
        """
        picture_id = command.data["picture_id"]
        await self.db[PICTURES].update_one(
            {"_id": picture_id}, {"$set": {"status": "rejected", "reason": reason}}
        )
        await self.blobs.delete(original_key(picture_id))
        await self.blobs.delete(command.data["blob_key"])
        d = command.data
        data = {"picture_id": picture_id, "owner_id": d["owner_id"], "command_id": command.id,
                "title": d["title"], "reason": reason, "currency": d["currency"],
                "description": d.get("description") or "", "price_cents": d["price_cents"],
                "tags": d.get("tags") or [], "created_at": command.time}
        return [command.caused(PICTURE_REJECTED.type, data, SOURCE)]

    async def _owned(self, command: CloudEvent) -> dict:
        picture_id = command.data["picture_id"]
        picture = await self.db[PICTURES].find_one({"_id": picture_id})
        if picture is None:
            raise Rejected(f"picture {picture_id} does not exist")
        if picture["owner_id"] != command.data["user_id"]:
            raise Rejected(f"user {command.data['user_id']} does not own picture {picture_id}")
        return picture

    async def update(self, command: CloudEvent) -> list[CloudEvent]:
        picture = await self._owned(command)
        if picture["status"] not in ("published", "processing"):
            raise Rejected(f"picture {picture['_id']} is {picture['status']} and cannot change")
        changes = {k: command.data[k] for k in EDITABLE if k in command.data}
        if "price_cents" in changes and picture["status"] == "published":
            priced = changes["price_cents"] > 0
            if priced != (picture["price_cents"] > 0):
                changes["preview_key"] = await self._rerender_preview(picture, priced)
        if changes:
            await self.db[PICTURES].update_one(
                {"_id": picture["_id"]}, {"$set": {**changes, "updated_at": command.time}}
            )
        data = {"picture_id": picture["_id"], "owner_id": picture["owner_id"], **changes}
        return [command.caused(PICTURE_UPDATED.type, data, SOURCE)]

    async def _rerender_preview(self, picture: dict, priced: bool) -> str:
        """Make the preview the new price calls for, and remove the other one: a priced
        picture's clean preview must not stay reachable at its old public address."""
        original = await self.blobs.get(picture["original_key"])
        renditions = await asyncio.to_thread(
            render, original, watermark=WATERMARK if priced else None
        )
        key = preview_key(picture["_id"], priced)
        await self.blobs.put(key, renditions.preview, renditions.content_type)
        await self.blobs.delete(preview_key(picture["_id"], not priced))
        return key

    async def delete(self, command: CloudEvent) -> list[CloudEvent]:
        picture = await self._owned(command)
        # The original stays: buyers keep their right to download it. The renditions go:
        # a deleted picture has no public face (deleting is idempotent, as redelivery needs).
        await self.db[PICTURES].update_one(
            {"_id": picture["_id"]}, {"$set": {"status": "deleted", "deleted_at": command.time}}
        )
        for key in (thumbnail_key(picture["_id"]), preview_key(picture["_id"], False),
                    preview_key(picture["_id"], True)):
            await self.blobs.delete(key)
        data = {"picture_id": picture["_id"], "owner_id": picture["owner_id"]}
        return [command.caused(PICTURE_DELETED.type, data, SOURCE)]
