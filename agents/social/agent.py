"""The social agents: follows (``picasso.social.commands``, in order per follower) and
followers counts (``picasso.social.events``, in order per followee)."""

from __future__ import annotations

from functools import partial

import faust

from agents.social.app import app, service
from agents.social.follows import apply_follows, count_followers, ensure_indexes
from picasso.mongo import SOCIAL_COUNTED, SOCIAL_PROCESSED
from topics import SOCIAL_COMMANDS, SOCIAL_EVENTS
from topics.social import FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED


def one_at_a_time(batch):
    """The single-message handler of a batch handler: a batch of one."""
    async def handle(record, message, **where):
        [caused] = await batch([(record, message)],
                               **({"positions": [where["position"]]} if where else {}))
        return caused
    return handle


@app.agent(service.topic(SOCIAL_COMMANDS), name="follows")
async def follows(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db, service.settings.inbox_retention_hours * 3600)
    batch = partial(apply_follows, res.db)
    # Versioned: a follow keeps its last command's version (time, then offset), so a command
    # applied again changes nothing and a batch need not ask the inbox first.
    domain = service.agent("social", (FOLLOW_USER, UNFOLLOW_USER), one_at_a_time(batch),
                           inbox=SOCIAL_PROCESSED, db=res.db, batch_handler=batch,
                           versioned=True)
    await service.consume(stream, domain)


@app.agent(service.topic(SOCIAL_EVENTS), name="followers")
async def followers(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db)
    # Recounting is state-derived; the inbox is what lets the runtime hand over whole
    # batches (one count per followee per batch).
    batch = partial(count_followers, res.db)
    domain = service.agent("social-followers", (USER_FOLLOWED, USER_UNFOLLOWED),
                           one_at_a_time(batch), inbox=SOCIAL_COUNTED, db=res.db,
                           batch_handler=batch)
    await service.consume(stream, domain)
