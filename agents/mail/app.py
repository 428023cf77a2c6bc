"""The mail service's Faust app: ``faust -A agents.mail.app worker -l info``.

Owns the mail deliveries: mail for users', pictures' and purchases' events, over SMTP.
"""

from __future__ import annotations

from picasso.service import Service

service = Service("mail")
app = service.app

# Importing the agents registers them on the app.
import agents.mail.agent  # noqa: E402,F401
