"""The uploads agent: consumes ``picasso.pictures.commands``, owns pictures and their blobs."""

from __future__ import annotations

import faust

from agents.uploads.app import app, service
from agents.uploads.pictures import Uploads, ensure_indexes
from picasso.mongo import UPLOADS_PROCESSED
from topics import PICTURES_COMMANDS
from topics.pictures import DELETE_PICTURE, UPDATE_PICTURE, UPLOAD_PICTURE


@app.agent(service.topic(PICTURES_COMMANDS), name="uploads")
async def uploads(stream: faust.StreamT) -> None:
    res = await service.resources()
    await ensure_indexes(res.db)
    domain = service.agent(
        "uploads", (UPLOAD_PICTURE, UPDATE_PICTURE, DELETE_PICTURE),
        Uploads(res.db, res.blobs).handle, inbox=UPLOADS_PROCESSED, db=res.db,
    )
    await service.consume(stream, domain)
