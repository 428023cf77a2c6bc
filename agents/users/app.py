"""The users service's Faust app: ``faust -A agents.users.app worker -l info``.

Projects the users' facts into the ``users`` read model the edge serves.
"""

from __future__ import annotations

from picasso.service import Service

service = Service("users")
app = service.app

# Importing the agents registers them on the app.
import agents.users.agent  # noqa: E402,F401
