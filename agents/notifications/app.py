"""The notifications service's Faust app: ``faust -A agents.notifications.app worker -l info``.

Owns people's in-app notifications: builds them from the facts of other domains (follows,
likes, comments, purchases, uploads), keeps its own small catalogue of pictures (owners,
titles) from the pictures events, and applies the commands that mark notifications read.
"""

from __future__ import annotations

from picasso.mongo import NOTIFICATIONS_PROCESSED
from picasso.service import Service

service = Service("notifications", inboxes=(NOTIFICATIONS_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.notifications.agent  # noqa: E402,F401
