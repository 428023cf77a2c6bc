"""The purchases service's schema step: its ledger's databases and migrations.

An explicit step, run before the service's workers start (``make run``, ``make test``, a
deploy job), never a side effect of a process starting: the edge holds no ledger
credentials at all.
"""

from __future__ import annotations

from agents.purchases.ledger import Ledger
from picasso.settings import Settings


async def migrate(settings: Settings) -> dict[int, list[int]]:
    """Create every shard's database if missing and apply its pending migrations; answers
    the versions applied per shard (empty lists when each was up to date)."""
    ledger = await Ledger.open(list(settings.mysql_shards), migrate=False)
    try:
        return await ledger.migrate()
    finally:
        await ledger.close()
