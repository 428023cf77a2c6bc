"""The social agents: follows (``picasso.social.commands``, in order per follower) and
followers counts (``picasso.social.events``, in order per followee)."""

from __future__ import annotations

from functools import partial

import faust

from agents.social.app import app, service
from agents.social.follows import apply_follows, count_followers, ensure_indexes
from picasso.mongo import SOCIAL_PROCESSED
from topics import SOCIAL_COMMANDS, SOCIAL_EVENTS
from topics.social import FOLLOW_USER, UNFOLLOW_USER, USER_FOLLOWED, USER_UNFOLLOWED


@app.agent(service.topic(SOCIAL_COMMANDS), name="follows")
async def follows(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db)
    batch = partial(apply_follows, res.db)

    async def one(record, command):
        [caused] = await batch([(record, command)])
        return caused

    domain = service.agent("social", (FOLLOW_USER, UNFOLLOW_USER), one,
                           inbox=SOCIAL_PROCESSED, db=res.db, batch_handler=batch)
    await service.consume(stream, domain)


@app.agent(service.topic(SOCIAL_EVENTS), name="followers")
async def followers(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db)
    # Recounting is state-derived, so a redelivered event only counts again: no inbox.
    domain = service.agent("social-followers", (USER_FOLLOWED, USER_UNFOLLOWED),
                           partial(count_followers, res.db))
    await service.consume(stream, domain)
