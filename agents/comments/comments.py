"""Comments: one document per comment, each picture's count derived from them, and the
service's own catalogue of pictures (who owns each, whether it is published).

``comment_count`` is recounted from the comments after every change instead of being
incremented, so a redelivered command, or a crash between two writes, never makes it drift
from the number of comments a picture has; the inbox applies each command once besides.

A deleted comment stays as a tombstone without its text (``deleted_by``), so that a
redelivered DeleteComment tells the same CommentDeleted again. A deleted picture's comments
are removed outright, and its count is frozen at 0 (``deleted``): an AddComment that was
checked against the catalogue just before the picture's deletion took effect looks at the
catalogue again after writing, and takes its comment back (see :meth:`Comments.add`).

The catalogue is built from ``picasso.pictures.events`` in ``comments_pictures``
(:func:`picasso.projection.remember`); the pictures collection is the uploads service's and
is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from picasso.mongo import COMMENT_COUNTS, COMMENTS, COMMENTS_PICTURES
from picasso.projection import remember, wait_for
from picasso.runtime import Rejected
from topics.comments import ADD_COMMENT, COMMENT_ADDED, COMMENT_DELETED, DELETE_COMMENT
from topics.envelope import CloudEvent, utc_now, utc_stamp
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED
from topics.record import Record

SOURCE = "/picasso/agents/comments"
# How long an AddComment waits for its picture's PicturePublished (another stream) before
# it is refused; the edge answers 404 for pictures it does not see published, so this is
# only the lag between the uploads service's event and this service's catalogue.
PICTURE_WAIT_S = 10.0
# Comments that are not deleted (a tombstone keeps ``deleted_by``).
LIVE = {"deleted_by": {"$exists": False}}


def _stamp(time: str) -> str:
    """A command's time as every stored time is written, so that times sort as strings."""
    try:
        return utc_stamp(datetime.fromisoformat(time))
    except ValueError:
        return utc_now()


@dataclass
class Comments:
    db: AsyncIOMotorDatabase
    picture_wait_s: float = PICTURE_WAIT_S

    @property
    def comments(self):
        return self.db[COMMENTS]

    @property
    def pictures(self):
        return self.db[COMMENTS_PICTURES]

    async def ensure_indexes(self) -> None:
        # A picture's comments in the order the edge lists them (oldest first).
        await self.comments.create_index([("picture_id", 1), ("created_at", 1), ("_id", 1)])

    async def handle(self, record: Record, command: CloudEvent) -> list[CloudEvent]:
        """Apply one AddComment or DeleteComment; returns the event it causes."""
        apply = {ADD_COMMENT.type: self.add, DELETE_COMMENT.type: self.delete}.get(record.type)
        if apply is None:
            raise Rejected(f"the comments agent does not handle {record.type}")
        return await apply(command)

    async def add(self, command: CloudEvent) -> list[CloudEvent]:
        d = command.data
        picture_id, comment_id = d["picture_id"], d["comment_id"]
        picture = await wait_for(self.pictures, {"_id": picture_id, "status": {"$exists": True}},
                                 self.picture_wait_s)
        if picture is None or picture["status"] != "published":
            raise Rejected(f"there is no published picture {picture_id} to comment on")
        doc = {"_id": comment_id, "picture_id": picture_id, "user_id": d["user_id"],
               "text": d["text"].strip(), "created_at": _stamp(command.time)}
        try:
            await self.comments.insert_one(doc)
        except DuplicateKeyError:  # the same comment sent again under another command id
            doc = await self.comments.find_one({"_id": comment_id})
            if (doc["picture_id"], doc["user_id"]) != (picture_id, d["user_id"]):
                raise Rejected(f"comment id {comment_id} is taken") from None
            if "deleted_by" in doc:
                raise Rejected(f"comment {comment_id} was deleted") from None
        # The picture may have been deleted since it was looked up: its deletion marks the
        # catalogue first and removes the comments after, so either this sees the mark, or
        # the removal comes after the insert above and takes this comment too.
        now = await self.pictures.find_one({"_id": picture_id}, {"status": 1})
        if now["status"] != "published":
            await self.comments.delete_one({"_id": comment_id})
            await self.recount(picture_id)
            raise Rejected(f"picture {picture_id} was deleted")
        count = await self.recount(picture_id)
        data = {"comment_id": comment_id, "picture_id": picture_id, "user_id": doc["user_id"],
                "text": doc["text"], "created_at": doc["created_at"],
                "owner_id": picture["owner_id"], "comment_count": count}
        return [command.caused(COMMENT_ADDED.type, data, SOURCE)]

    async def delete(self, command: CloudEvent) -> list[CloudEvent]:
        d = command.data
        picture_id, comment_id, user_id = d["picture_id"], d["comment_id"], d["user_id"]
        comment = await self.comments.find_one({"_id": comment_id})
        if comment is None:
            return []  # never was, or went with its picture: nothing to do
        if comment["picture_id"] != picture_id:
            raise Rejected(f"comment {comment_id} is not on picture {picture_id}")
        if "deleted_by" in comment:
            # Deleted already: by this command before a crash kept its inbox record (tell it
            # again), or by someone else (nothing to do).
            if comment["deleted_by"] != user_id:
                return []
        elif user_id != comment["user_id"]:
            picture = await self.pictures.find_one({"_id": picture_id}, {"owner_id": 1})
            if picture is None or picture.get("owner_id") != user_id:
                raise Rejected(f"{user_id} may not delete comment {comment_id}: only its "
                               "author or the picture's owner may")
        await self.comments.update_one(
            {"_id": comment_id, **LIVE},
            {"$set": {"deleted_by": user_id, "deleted_at": _stamp(command.time)},
             "$unset": {"text": ""}})
        count = await self.recount(picture_id)
        data = {"comment_id": comment_id, "picture_id": picture_id,
                "user_id": comment["user_id"], "deleted_by": user_id, "comment_count": count}
        return [command.caused(COMMENT_DELETED.type, data, SOURCE)]

    async def recount(self, picture_id: str) -> int:
        """Set the picture's ``comment_count`` to the number of its comments; a deleted
        picture's stays 0."""
        count = await self.comments.count_documents({"picture_id": picture_id, **LIVE})
        live = {"_id": picture_id, "deleted": {"$ne": True}}
        update = {"$set": {"comment_count": count}}
        try:
            await self.db[COMMENT_COUNTS].update_one(live, update, upsert=True)
        except DuplicateKeyError:  # there is a document the filter missed: a deleted picture
            found = await self.db[COMMENT_COUNTS].find_one({"_id": picture_id})
            if found.get("deleted"):
                return 0
            await self.db[COMMENT_COUNTS].update_one(live, update)
        return count

    async def picture_event(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """Keep the catalogue from one pictures event; a PictureDeleted takes the picture's
        comments with it. Events that comments need nothing of are ignored."""
        d = event.data
        if record.type == PICTURE_PUBLISHED.type:
            await remember(self.pictures, d["picture_id"],
                           {"owner_id": d["owner_id"], "status": "published"}, event.time)
        elif record.type == PICTURE_DELETED.type:
            picture_id = d["picture_id"]
            await remember(self.pictures, picture_id,
                           {"owner_id": d["owner_id"], "status": "deleted"}, event.time)
            await self.db[COMMENT_COUNTS].update_one(
                {"_id": picture_id}, {"$set": {"comment_count": 0, "deleted": True}},
                upsert=True)
            await self.comments.delete_many({"picture_id": picture_id})
        return []
