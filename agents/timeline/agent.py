"""The timeline agents: one keeps the follow graph from ``picasso.social.events``, one the
pictures from ``picasso.pictures.events``; both write the home timelines
(:mod:`agents.timeline.fanout`).

Every write is state-derived and keyed (upserts by (reader, picture), idempotent deletes),
so redelivered events change nothing and no inbox is needed.
"""

from __future__ import annotations

import faust

from agents.timeline.app import app, service
from agents.timeline.fanout import Fanout
from picasso.service import opened_once
from topics import PICTURES_EVENTS, SOCIAL_EVENTS
from topics.pictures import (
    PICTURE_DELETED,
    PICTURE_PUBLISHED,
    PICTURE_REJECTED,
    PICTURE_UPDATED,
)
from topics.social import USER_FOLLOWED, USER_UNFOLLOWED


async def _open() -> Fanout:
    domain = Fanout((await service.resources()).db,
                    service.settings.timeline_fanout_max_followers)
    await domain.ensure_indexes()
    return domain


_fanout = opened_once(_open)


@app.agent(service.topic(SOCIAL_EVENTS), name="timeline-follows")
async def follows(stream: faust.StreamT) -> None:
    domain = await _fanout()
    agent = service.agent("timeline-follows", (USER_FOLLOWED, USER_UNFOLLOWED), domain.social)
    await service.consume(stream, agent)


@app.agent(service.topic(PICTURES_EVENTS), name="timeline-pictures")
async def pictures(stream: faust.StreamT) -> None:
    domain = await _fanout()
    agent = service.agent(
        "timeline-pictures",
        (PICTURE_PUBLISHED, PICTURE_UPDATED, PICTURE_DELETED, PICTURE_REJECTED),
        domain.pictures)
    await service.consume(stream, agent)
