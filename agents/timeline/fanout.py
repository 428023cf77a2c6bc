"""What each event does to the home timelines: fan-out on write, merge on read.

An owner with at most ``threshold`` followers has each new picture written into every
follower's timeline, in bulk writes. An owner with more is in ``merge`` mode: nothing is
written per follower; each follower has a ``timeline_celebrities`` mark and their reads merge
the owner's recent pictures in. Following backfills the owner's recent pictures (or marks a
celebrity); unfollowing removes them (and the mark); a deleted picture leaves every timeline.

Follow events (keyed by followee) and pictures events (keyed by picture) come on different
topics and partitions, so their relative order is unknown. Each handler first writes its
own fact, then reads the other's: a publication records the picture, then fans out to the
graph as it is; a follow records the edge, then backfills from the catalogue as it is; an
unfollow records the edge, then removes; a fan-out, after writing, removes the picture again
from readers who have unfollowed meanwhile, and a backfill removes pictures deleted
meanwhile. Of two such handlers running at once, at least one sees the other's write, so
the outcome is right whatever the order. Every write is an upsert keyed by (reader,
picture) or an idempotent delete, and the state it follows is re-read, so redeliveries
change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from agents.timeline.catalogue import Catalogue
from agents.timeline.follows import FANOUT, MERGE, Follows
from agents.timeline.timelines import RECENT, Timelines
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED
from topics.record import Record
from topics.social import USER_FOLLOWED

# How many of an owner's newest pictures a new follower gets into their timeline.
BACKFILL = 50


@dataclass
class Fanout:
    db: AsyncIOMotorDatabase
    threshold: int  # TIMELINE_FANOUT_MAX_FOLLOWERS

    def __post_init__(self) -> None:
        self.follows = Follows(self.db)
        self.catalogue = Catalogue(self.db)
        self.timelines = Timelines(self.db)

    async def ensure_indexes(self) -> None:
        await self.follows.ensure_indexes()
        await self.catalogue.ensure_indexes()
        await self.timelines.ensure_indexes()

    async def social(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A follow or an unfollow (``picasso.social.events``)."""
        followee, follower = event.data["followee_id"], event.data["follower_id"]
        follows = await self.follows.record(followee, follower, record is USER_FOLLOWED,
                                            event.time)
        mode = await self.settle(followee)
        if not follows:
            await self.timelines.unmark(followee, follower)
            await self.timelines.remove_owner(follower, followee)
        elif mode == MERGE:
            await self.timelines.mark([follower], followee)
        else:
            await self.backfill([follower], followee)
        return []

    async def pictures(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A pictures event (``picasso.pictures.events``); changes other than publishing
        and deleting do not move a picture in any timeline."""
        d = event.data
        if record is PICTURE_PUBLISHED:
            picture = await self.catalogue.published(d["picture_id"], d["owner_id"],
                                                     d["created_at"], event.time)
            if picture is not None:
                await self.publish(picture)
        elif record is PICTURE_DELETED:
            await self.catalogue.deleted(d["picture_id"], d["owner_id"], event.time)
            await self.timelines.forget_recent(d["owner_id"], [d["picture_id"]])
            await self.timelines.remove_pictures([d["picture_id"]])
        return []

    async def publish(self, picture: dict) -> None:
        """Fan a published picture out to its owner's followers, unless the owner is
        merged in at read time."""
        owner = picture["owner_id"]
        await self.timelines.remember_recent(picture)
        await self.timelines.forget_recent(owner, await self.catalogue.gone([picture["_id"]]))
        if (await self.follows.mode(owner))["mode"] == MERGE:
            return
        async for readers in self.follows.batches(owner):
            await self.timelines.add(readers, [picture])
        # Readers who unfollowed while the fan-out ran, and a delete that came meanwhile.
        async for former in self.follows.batches(owner, follows=False):
            await self.timelines.remove_pictures([picture["_id"]], former)
        await self.timelines.remove_pictures(await self.catalogue.gone([picture["_id"]]))

    async def backfill(self, readers: list[str], owner: str) -> None:
        recent = await self.catalogue.recent(owner, BACKFILL)
        await self.timelines.add(readers, recent)
        await self.timelines.remove_pictures(
            await self.catalogue.gone([p["_id"] for p in recent]))

    async def settle(self, followee: str) -> str:
        """Put the followee in the mode its follower count calls for, finishing a switch a
        crash cut short; answers the mode.

        To ``merge``: the mode first (from then on a publication writes nothing per
        follower), then a mark per follower. Back to ``fanout``: the mode first (from then on
        publications fan out), then the followee's recent pictures into every follower's
        timeline, then the marks go, so a reader never misses them in between."""
        want = MERGE if await self.follows.count(followee) > self.threshold else FANOUT
        state = await self.follows.mode(followee)
        if state["mode"] != want:
            await self.follows.set_mode(followee, want, settled=False)
        elif state["settled"]:
            return want
        if want == MERGE:  # what its readers will merge in (written by publications since)
            for picture in await self.catalogue.recent(followee, RECENT):
                await self.timelines.remember_recent(picture)
        async for readers in self.follows.batches(followee):
            if want == MERGE:
                await self.timelines.mark(readers, followee)
            else:
                await self.backfill(readers, followee)
        if want == FANOUT:
            await self.timelines.unmark(followee)
        await self.follows.set_mode(followee, want, settled=True)
        return want
