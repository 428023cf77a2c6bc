"""The users agent: projects ``picasso.users.events`` into the ``users`` read model."""

from __future__ import annotations

from functools import partial

import faust

from agents.users.app import app, service
from agents.users.projection import apply_user_event
from topics import USERS_EVENTS
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED, USER_UPDATED


@app.agent(service.topic(USERS_EVENTS), name="users")
async def users(stream: faust.StreamT) -> None:
    res = await service.resources()
    # Upserting a fact is idempotent on its own, so no inbox is needed.
    domain = service.agent(
        "users", (USER_REGISTERED, USER_UPDATED, USER_PREFERENCES_CHANGED),
        partial(apply_user_event, res.db),
    )
    await service.consume(stream, domain)
