"""The timeline service's Faust app: ``faust -A agents.timeline.app worker -l info``.

Builds every reader's home timeline from who follows whom (``picasso.social.events``) and
what is published (``picasso.pictures.events``).
"""

from __future__ import annotations

from picasso.service import Service

service = Service("timeline")
app = service.app

# Importing the agents registers them on the app.
import agents.timeline.agent  # noqa: E402,F401
