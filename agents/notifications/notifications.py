"""In-app notifications: one document per notification in ``notifications``, ``user_id``
the person it is for, ``at`` its last activity (what the list is sorted by), ``read``.

A notification is made from one fact of another domain and its id derives from that fact's
id (:func:`topics.envelope.derived_id`), so a redelivered fact finds its notification made
already and changes nothing. Likes are the exception: all likes of one picture are one
notification (id derived from the picture's), holding the set of likers, oldest first. A like
by someone already in the set changes nothing (so a redelivery counts once); a new liker
joins the set, bumps the notification's ``at`` and marks it unread again; an unlike takes the
liker out without bumping it. The set is changed read-modify-write under a ``version`` guard,
so two writers (a rebalance) never lose a liker.

Nobody is notified of what they did themselves: their own like, comment or purchase.

A deleted picture takes the notifications about it along (its likes, comments and
publication: ``WITH_PICTURE``); those of money (sold, bought, failed) stay, as purchases do.
The catalogue remembers the deletion, and a notification made for a picture is looked up
again after it is written, so a like handled while the delete is (another stream) leaves
nothing behind either.

Likes carry no owner: the owner and title of each picture come from this service's own
catalogue (``notifications_pictures``), built from ``picasso.pictures.events`` with
:func:`picasso.projection.remember`; the pictures collection is the uploads service's and
is never read here. A like that comes before its picture's PicturePublished (another
stream) is kept in a notification for nobody yet, which the PicturePublished gives to the
owner (taking the owner's own like out of it). Display names are not stored: the edge
resolves them from the users read model when it serves the list.

Each change tells its person: ``NotificationsChanged`` on ``picasso.notifications.events``
(change ``added`` when a notification was made or came back unread, ``read`` when some were
marked read, ``removed`` when a deleted picture took some along), sent after the read model
holds it, so that the edge's live updates count the bell from the read model. Its id derives
from the fact's and the person's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo.errors import DuplicateKeyError

from picasso.mongo import NOTIFICATIONS, NOTIFICATIONS_PICTURES
from picasso.projection import remember
from picasso.runtime import Rejected
from topics.comments import COMMENT_ADDED
from topics.envelope import CloudEvent, derived_id, utc_now, utc_stamp
from topics.notifications import NOTIFICATIONS_CHANGED
from topics.pictures import (
    PICTURE_DELETED,
    PICTURE_PUBLISHED,
    PICTURE_REJECTED,
    PICTURE_UPDATED,
)
from topics.purchases import PURCHASE_COMPLETED, PURCHASE_FAILED
from topics.reactions import PICTURE_LIKED, PICTURE_UNLIKED
from topics.record import Record
from topics.social import USER_FOLLOWED

# How much of a comment a notification quotes.
EXCERPT_MAX = 140
# The kinds of notification about a picture that go when the picture is deleted.
WITH_PICTURE = ("liked", "commented", "picture_published")
SOURCE = "/picasso/agents/notifications"
# Read-modify-write attempts on one picture's likes before the message is retried whole.
LIKE_ATTEMPTS = 20


def stamp(time: str) -> str:
    """An event's time as every stored time is written, so that times sort as strings."""
    try:
        return utc_stamp(datetime.fromisoformat(time))
    except ValueError:
        return utc_now()


def changed(cause: CloudEvent, user_ids: list[str], change: str) -> list[CloudEvent]:
    """``NotificationsChanged`` for each of ``user_ids`` (once each), caused by ``cause``."""
    return [CloudEvent(type=NOTIFICATIONS_CHANGED.type, subject=user_id, source=SOURCE,
                       id=derived_id(cause.id, f"{NOTIFICATIONS_CHANGED.type}/{user_id}"),
                       data={"user_id": user_id, "change": change})
            for user_id in dict.fromkeys(user_ids)]


def likes_id(picture_id: str) -> str:
    """The id of the one notification of a picture's likes."""
    return derived_id(picture_id, "notification/liked")


@dataclass
class Notifications:
    db: AsyncIOMotorDatabase

    @property
    def notes(self):
        return self.db[NOTIFICATIONS]

    @property
    def pictures(self):
        return self.db[NOTIFICATIONS_PICTURES]

    async def ensure_indexes(self) -> None:
        # One person's notifications, newest activity first, and their unread ones.
        await self.notes.create_index([("user_id", 1), ("at", -1), ("_id", -1)])
        await self.notes.create_index([("user_id", 1), ("read", 1)])

    # -- the command: marking read

    async def mark_read(self, record: Record, command: CloudEvent) -> list[CloudEvent]:
        """Mark the named notifications of ``user_id`` read, or all of those whose last
        activity is not later than the command (a like that arrives after stays unread)."""
        d = command.data
        query: dict[str, Any] = {"user_id": d["user_id"], "read": False}
        if d.get("all"):
            query["at"] = {"$lte": stamp(command.time)}
        elif d.get("notification_ids"):
            query["_id"] = {"$in": d["notification_ids"]}
        else:
            raise Rejected("name the notifications to mark read (notification_ids), "
                           "or all: true")
        done = await self.notes.update_many(query, {"$set": {"read": True}})
        return changed(command, [d["user_id"]], "read") if done.modified_count else []

    # -- the facts

    async def fact(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """Apply one fact of another domain; those no notification comes from are ignored."""
        apply = self._FACTS.get(record.type)
        if apply is None:
            return []
        change = "removed" if record is PICTURE_DELETED else "added"
        return changed(event, await apply(self, event.data, event), change)

    async def _add(self, event: CloudEvent, kind: str, user_id: str | None,
                   **fields: Any) -> list[str]:
        """One notification of ``kind`` for ``user_id`` from ``event``, once; answers who
        got a new one (nobody, when it was made already)."""
        if not user_id:
            return []
        doc = {"_id": derived_id(event.id, f"notification/{kind}"), "user_id": user_id,
               "kind": kind, "read": False, "at": stamp(event.time),
               **{name: value for name, value in fields.items() if value is not None}}
        made = True
        try:
            await self.notes.insert_one(doc)
        except DuplicateKeyError:
            made = False  # made already: the same fact delivered again
        await self._unless_deleted(doc.get("picture_id"), kind)
        return [user_id] if made else []

    async def _unless_deleted(self, picture_id: str | None, kind: str) -> None:
        """Take a notification just written away again if its picture was deleted
        meanwhile (or before: the delete came on another stream first)."""
        if picture_id and kind in WITH_PICTURE and await self.pictures.find_one(
                {"_id": picture_id, "deleted": True}, {"_id": 1}):
            await self._forget_picture(picture_id)

    async def _forget_picture(self, picture_id: str) -> int:
        done = await self.notes.delete_many({"picture_id": picture_id,
                                             "kind": {"$in": list(WITH_PICTURE)}})
        return done.deleted_count

    # Each fact's handler answers the people whose notifications it changed.

    async def _deleted(self, d: dict, event: CloudEvent) -> list[str]:
        await remember(self.pictures, d["picture_id"], {"deleted": True}, stamp(event.time))
        return [d["owner_id"]] if await self._forget_picture(d["picture_id"]) else []

    async def _title(self, picture_id: str) -> str | None:
        picture = await self.pictures.find_one({"_id": picture_id}, {"title": 1})
        return (picture or {}).get("title")

    async def _followed(self, d: dict, event: CloudEvent) -> list[str]:
        if d["follower_id"] == d["followee_id"]:
            return []
        return await self._add(event, "followed", d["followee_id"], actors=[d["follower_id"]])

    async def _commented(self, d: dict, event: CloudEvent) -> list[str]:
        owner = d.get("owner_id")
        if not owner or owner == d["user_id"]:
            return []
        return await self._add(event, "commented", owner, actors=[d["user_id"]],
                               picture_id=d["picture_id"],
                               title=await self._title(d["picture_id"]),
                               comment_id=d["comment_id"], text=d["text"][:EXCERPT_MAX])

    async def _completed(self, d: dict, event: CloudEvent) -> list[str]:
        money = {"picture_id": d["picture_id"], "title": d.get("title"),
                 "purchase_id": d["purchase_id"], "amount_cents": d["amount_cents"],
                 "currency": d["currency"]}
        sold = (await self._add(event, "sold", d["seller_id"], actors=[d["buyer_id"]], **money)
                if d["seller_id"] != d["buyer_id"] else [])
        return sold + await self._add(event, "purchase_completed", d["buyer_id"],
                                      actors=[d["seller_id"]], **money)

    async def _failed(self, d: dict, event: CloudEvent) -> list[str]:
        return await self._add(event, "purchase_failed", d["buyer_id"],
                               picture_id=d["picture_id"],
                               title=await self._title(d["picture_id"]),
                               purchase_id=d["purchase_id"], reason=d["reason"])

    async def _published(self, d: dict, event: CloudEvent) -> list[str]:
        picture_id, owner = d["picture_id"], d["owner_id"]
        await remember(self.pictures, picture_id,
                       {"owner_id": owner, "title": d["title"]}, stamp(event.time))
        added = await self._add(event, "picture_published", owner, picture_id=picture_id,
                                title=d["title"])
        return added + await self._likes_of(picture_id)

    async def _updated(self, d: dict, event: CloudEvent) -> list[str]:
        if "title" not in d:
            return []
        await remember(self.pictures, d["picture_id"], {"title": d["title"]},
                       stamp(event.time))
        return await self._likes_of(d["picture_id"])

    async def _rejected(self, d: dict, event: CloudEvent) -> list[str]:
        return await self._add(event, "picture_rejected", d.get("owner_id"),
                        picture_id=d["picture_id"], title=d.get("title"), reason=d["reason"])

    async def _liked(self, d: dict, event: CloudEvent) -> list[str]:
        liker, at = d["user_id"], stamp(event.time)

        def join(doc: dict) -> dict | None:
            if liker in doc["likers"] or liker == doc.get("user_id"):
                return None  # counted already (a redelivery), or the owner's own like
            return {"likers": [*doc["likers"], liker], "read": False,
                    "at": max(doc["at"], at)}

        return await self._change_likes(d["picture_id"], join, first=(liker, at))

    async def _unliked(self, d: dict, event: CloudEvent) -> list[str]:
        liker = d["user_id"]

        def leave(doc: dict) -> dict | None:
            if liker not in doc["likers"]:
                return None
            return {"likers": [x for x in doc["likers"] if x != liker]}

        return await self._change_likes(d["picture_id"], leave)

    async def _likes_of(self, picture_id: str) -> list[str]:
        """Give a picture's likes notification its owner and title from the catalogue
        (taking the owner's own like out of it), once the catalogue knows them."""
        picture = await self.pictures.find_one({"_id": picture_id})
        if picture is None or "owner_id" not in picture:
            return []
        owner = picture["owner_id"]

        def own(doc: dict) -> dict | None:
            change = {"user_id": owner, "title": picture.get("title"),
                      "likers": [x for x in doc["likers"] if x != owner]}
            return None if all(doc.get(k) == v for k, v in change.items()) else change

        return await self._change_likes(picture_id, own)

    async def _change_likes(self, picture_id: str, change: Callable[[dict], dict | None],
                            first: tuple[str, str] | None = None) -> list[str]:
        """Apply ``change`` (the fields to set, or None for no change) to the picture's
        likes notification under its version guard; ``first``: the (liker, time) that
        makes it when there is none. Answers its owner when they have a change to see."""
        key = likes_id(picture_id)
        for _ in range(LIKE_ATTEMPTS):
            doc = await self.notes.find_one({"_id": key})
            if doc is None:
                if first is None:
                    return []
                picture = await self.pictures.find_one({"_id": picture_id}) or {}
                liker, at = first
                if liker == picture.get("owner_id"):
                    return []
                doc = {"_id": key, "kind": "liked", "picture_id": picture_id,
                       "user_id": picture.get("owner_id"), "title": picture.get("title"),
                       "likers": [liker], "count": 1, "read": False, "at": at, "version": 1}
                try:
                    await self.notes.insert_one(doc)
                except DuplicateKeyError:
                    continue  # made meanwhile by another writer: change that one
                await self._unless_deleted(picture_id, "liked")
                return [doc["user_id"]] if doc["user_id"] else []
            fields = change(doc)
            if fields is None:
                return []
            if "likers" in fields:
                fields["count"] = len(fields["likers"])
            fields["version"] = doc["version"] + 1
            done = await self.notes.update_one({"_id": key, "version": doc["version"]},
                                               {"$set": fields})
            if done.matched_count:
                owner = fields.get("user_id", doc.get("user_id"))
                return [owner] if owner else []
        raise RuntimeError(f"the likes of picture {picture_id} kept changing; retrying")

    _FACTS = {
        USER_FOLLOWED.type: _followed,
        COMMENT_ADDED.type: _commented,
        PURCHASE_COMPLETED.type: _completed,
        PURCHASE_FAILED.type: _failed,
        PICTURE_PUBLISHED.type: _published,
        PICTURE_UPDATED.type: _updated,
        PICTURE_REJECTED.type: _rejected,
        PICTURE_DELETED.type: _deleted,
        PICTURE_LIKED.type: _liked,
        PICTURE_UNLIKED.type: _unliked,
    }
