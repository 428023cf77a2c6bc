"""The search service's Faust app: ``faust -A agents.search.app worker -l info``.

Keeps the search index the edge reads for ``GET /api/v1/search`` from what is published
(``picasso.pictures.events``) and people's names (``picasso.users.events``).
"""

from __future__ import annotations

from picasso.service import Service

service = Service("search")
app = service.app

# Importing the agents registers them on the app.
import agents.search.agent  # noqa: E402,F401
