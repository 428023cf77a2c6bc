"""The reactions agent: consumes ``picasso.reactions.commands``, owns likes and like counts."""

from __future__ import annotations

from functools import partial

import faust

from agents.reactions.app import app, service
from agents.reactions.likes import apply_reaction, apply_reactions, ensure_indexes
from picasso.mongo import REACTIONS_PROCESSED
from topics import REACTIONS_COMMANDS
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE


@app.agent(service.topic(REACTIONS_COMMANDS), name="reactions")
async def reactions(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db, service.settings.inbox_retention_hours * 3600)
    # Versioned: a pair keeps its last command's version (time, then offset), so a command
    # applied again changes nothing and a batch need not ask the inbox first.
    domain = service.agent(
        "reactions", (LIKE_PICTURE, UNLIKE_PICTURE), partial(apply_reaction, res.db),
        inbox=REACTIONS_PROCESSED, db=res.db, batch_handler=partial(apply_reactions, res.db),
        versioned=True,
    )
    await service.consume(stream, domain)
