"""The trending service's Faust app: ``faust -A agents.trending.app worker -l info``.

Ranks pictures by their recent likes, comments and purchases over the last hour and the
last day, from the other domains' facts, and publishes the rankings as the read model the
edge serves for ``GET /api/v1/pictures?sort=trending``.
"""

from __future__ import annotations

from picasso.service import Service

service = Service("trending")
app = service.app

# Importing the agents registers them on the app.
import agents.trending.agent  # noqa: E402,F401
