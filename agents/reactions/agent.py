"""The reactions agent: consumes ``picasso.reactions.commands``, owns likes and like counts."""

from __future__ import annotations

from functools import partial

import faust

from agents.app import app, consume, faust_topic, resources, send, settings
from agents.reactions.logic import apply_reaction, apply_reactions, ensure_indexes
from agents.runtime import Agent, Inbox
from picasso.mongo import REACTIONS_PROCESSED
from topics import REACTIONS_COMMANDS
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE


@app.agent(faust_topic(REACTIONS_COMMANDS), name="reactions")
async def reactions(stream: faust.StreamT) -> None:
    res = await resources()
    await ensure_indexes(res.db)
    domain = Agent(
        "reactions", (LIKE_PICTURE, UNLIKE_PICTURE), partial(apply_reaction, res.db), send,
        settings.topic_prefix, Inbox(res.db[REACTIONS_PROCESSED]),
        batch_handler=partial(apply_reactions, res.db),
    )
    await consume(stream, domain)
