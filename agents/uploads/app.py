"""The uploads service's Faust app: ``faust -A agents.uploads.app worker -l info``.

Owns pictures and their blobs: applies picture commands, emits picture events.
"""

from __future__ import annotations

from picasso.mongo import UPLOADS_PROCESSED
from picasso.service import Service

# Its inbox is the pictures read model's source of truth (agents.uploads.rebuild): kept whole.
service = Service("uploads", inboxes=(UPLOADS_PROCESSED,), kept_whole=(UPLOADS_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.uploads.agent  # noqa: E402,F401
from agents.uploads.rebuild import PICTURES_MODEL  # noqa: E402

service.read_model(PICTURES_MODEL)  # faust -A agents.uploads.app rebuild
