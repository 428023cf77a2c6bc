"""The search agents: one indexes pictures from ``picasso.pictures.events``, one people's
names from ``picasso.users.events`` (a new name also re-indexes that owner's pictures).

Every write is derived from the service's own state, which is guarded by event time, and is
an idempotent ``$set``/``$unset``, so redelivered events change nothing and no inbox is
needed (:mod:`agents.search.index`).
"""

from __future__ import annotations

import faust

from agents.search.app import app, service
from agents.search.index import SearchIndex
from picasso.service import opened_once
from topics import PICTURES_EVENTS, USERS_EVENTS
from topics.pictures import (
    PICTURE_DELETED,
    PICTURE_PUBLISHED,
    PICTURE_REJECTED,
    PICTURE_UPDATED,
)
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED, USER_UPDATED


async def _open() -> SearchIndex:
    index = SearchIndex((await service.resources()).db)
    await index.ensure_indexes()
    return index


_index = opened_once(_open)


@app.agent(service.topic(PICTURES_EVENTS), name="search-pictures")
async def pictures(stream: faust.StreamT) -> None:
    index = await _index()
    # Every record of the topic is accepted (others would go to the dead letters); a
    # rejection changes nothing that is indexed.
    agent = service.agent(
        "search-pictures",
        (PICTURE_PUBLISHED, PICTURE_UPDATED, PICTURE_DELETED, PICTURE_REJECTED), index.picture)
    await service.consume(stream, agent)


@app.agent(service.topic(USERS_EVENTS), name="search-people")
async def people(stream: faust.StreamT) -> None:
    index = await _index()
    agent = service.agent("search-people",
                          (USER_REGISTERED, USER_UPDATED, USER_PREFERENCES_CHANGED), index.person)
    await service.consume(stream, agent)
