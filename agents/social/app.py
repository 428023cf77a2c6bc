"""The social service's Faust app: ``faust -A agents.social.app worker -l info``.

Owns who follows whom and the counts of followers and following.
"""

from __future__ import annotations

from picasso.mongo import SOCIAL_PROCESSED
from picasso.service import Service

service = Service("social", inboxes=(SOCIAL_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.social.agent  # noqa: E402,F401
