"""The users agent: projects ``picasso.users.events`` into the ``users`` read model."""

from __future__ import annotations

from functools import partial

import faust

from agents.app import app, consume, faust_topic, resources, send, settings
from agents.runtime import Agent
from agents.users.logic import apply_user_event
from topics import USERS_EVENTS
from topics.users import USER_PREFERENCES_CHANGED, USER_REGISTERED, USER_UPDATED


@app.agent(faust_topic(USERS_EVENTS), name="users")
async def users(stream: faust.StreamT) -> None:
    res = await resources()
    # Upserting a fact is idempotent on its own, so no inbox is needed.
    domain = Agent(
        "users", (USER_REGISTERED, USER_UPDATED, USER_PREFERENCES_CHANGED),
        partial(apply_user_event, res.db), send,
        settings.topic_prefix, None,
    )
    await consume(stream, domain)
