"""The comments agents: ``picasso.comments.commands`` (with an inbox, so each command is
applied once) and ``picasso.pictures.events`` (the service's catalogue of pictures, and a
deleted picture's comments going with it)."""

from __future__ import annotations

import faust

from agents.comments.app import app, service
from agents.comments.comments import Comments
from picasso.mongo import COMMENTS_PROCESSED
from topics import COMMENTS_COMMANDS, PICTURES_EVENTS
from topics.comments import ADD_COMMENT, DELETE_COMMENT
from topics.registry import RECORDS


async def _comments() -> Comments:
    comments = Comments((await service.resources()).db)
    await comments.ensure_indexes()
    return comments


@app.agent(service.topic(COMMENTS_COMMANDS), name="comments")
async def comments(stream: faust.StreamT) -> None:
    domain = await _comments()
    agent = service.agent("comments", (ADD_COMMENT, DELETE_COMMENT), domain.handle,
                          inbox=COMMENTS_PROCESSED, db=domain.db)
    await service.consume(stream, agent)


@app.agent(service.topic(PICTURES_EVENTS), name="comments-pictures")
async def pictures(stream: faust.StreamT) -> None:
    """Every pictures record is accepted (the ones comments need nothing of are ignored),
    so that only messages that do not parse are dead-lettered. No inbox: applying an event
    twice writes the same guarded fields and deletes the same comments again."""
    accepted = [record for record in RECORDS.values() if record.topic is PICTURES_EVENTS]
    domain = await _comments()
    await service.consume(stream, service.agent("comments-pictures", accepted,
                                                domain.picture_event))
