"""The comments service's Faust app: ``faust -A agents.comments.app worker -l info``.

Owns comments and comment counts: applies add and delete commands, and keeps its own small
catalogue of pictures (owners, whether published) from the pictures events.
"""

from __future__ import annotations

from picasso.mongo import COMMENTS_PROCESSED
from picasso.service import Service

service = Service("comments", inboxes=(COMMENTS_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.comments.agent  # noqa: E402,F401
