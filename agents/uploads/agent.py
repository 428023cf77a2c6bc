"""The uploads agent: consumes ``picasso.pictures.commands``, owns pictures and their blobs."""

from __future__ import annotations

import faust

from agents.app import app, consume, faust_topic, resources, send, settings
from agents.runtime import Agent, Inbox
from agents.uploads.logic import Uploads, ensure_indexes
from picasso.mongo import UPLOADS_PROCESSED
from topics import PICTURES_COMMANDS
from topics.pictures import DELETE_PICTURE, UPDATE_PICTURE, UPLOAD_PICTURE


@app.agent(faust_topic(PICTURES_COMMANDS), name="uploads")
async def uploads(stream: faust.StreamT) -> None:
    res = await resources()
    await ensure_indexes(res.db)
    domain = Agent(
        "uploads", (UPLOAD_PICTURE, UPDATE_PICTURE, DELETE_PICTURE),
        Uploads(res.db, res.blobs).handle, send, settings.topic_prefix,
        Inbox(res.db[UPLOADS_PROCESSED]),
    )
    await consume(stream, domain)
