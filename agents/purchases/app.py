"""The purchases service's Faust app: ``faust -A agents.purchases.app worker -l info``.

Owns the MariaDB ledger, Stripe's PaymentIntents and refunds, and the purchases'
read models.
"""

from __future__ import annotations

from picasso.mongo import PURCHASES_PROCESSED
from picasso.service import Service

service = Service("purchases", inboxes=(PURCHASES_PROCESSED,))
app = service.app

# Importing the agents registers them on the app.
import agents.purchases.agent  # noqa: E402,F401
import agents.purchases.commands  # noqa: E402,F401
from agents.purchases.rebuild import purchases_model  # noqa: E402

service.read_model(purchases_model(service.settings))  # faust -A agents.purchases.app rebuild
