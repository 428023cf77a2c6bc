"""The reactions service's Faust app: ``faust -A agents.reactions.app worker -l info``.

Owns likes and like counts: applies like and unlike commands.
"""

from __future__ import annotations

from picasso.mongo import REACTIONS_PROCESSED
from picasso.service import Service

service = Service("reactions", inboxes=(REACTIONS_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.reactions.agent  # noqa: E402,F401
from agents.reactions.rebuild import LIKE_COUNTS_MODEL  # noqa: E402

service.read_model(LIKE_COUNTS_MODEL)  # faust -A agents.reactions.app rebuild
