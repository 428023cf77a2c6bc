"""The :class:`Ledger`: the writes and reads of the purchase state machine over the shards,
plus the schema and bucket operations an operator runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agents.purchases.ledger.migrations import (
    MIGRATIONS_DIR,
    applied_versions,
    load_migrations,
    migrate_shard,
    seed_buckets,
)
from agents.purchases.ledger.routing import map_problems, parse_dsn
from agents.purchases.ledger.states import PurchaseStates


class Ledger(PurchaseStates):
    """The sharded ledger: one aiomysql pool per shard. Create it with :meth:`open`.

    Its rooms: connections and routed transactions (``shards.py``), reads (``queries.py``),
    writes (``states.py``); bucket moves are :func:`agents.purchases.ledger.move_buckets`.
    """

    async def migrate(self, directory: Path = MIGRATIONS_DIR) -> dict[int, list[int]]:
        """Apply the migrations not yet applied on each shard, then give a fresh deployment's
        shards their buckets (see :func:`seed_buckets`); returns the versions applied per
        shard (empty lists when the schema was already current)."""
        migrations = load_migrations(directory)
        applied = await asyncio.gather(*(
            migrate_shard(self._pools[shard], parse_dsn(self.dsns[shard]).database, shard,
                          migrations)
            for shard in range(self.shard_count)
        ))
        await seed_buckets(list(self._pools), parse_dsn(self.dsns[0]).database)
        return dict(enumerate(applied))

    async def pending_migrations(self, directory: Path = MIGRATIONS_DIR) -> dict[int, list[int]]:
        """The migrations each shard still lacks, by shard (only shards lacking some)."""
        wanted = [m.version for m in load_migrations(directory)]
        done = await asyncio.gather(*(applied_versions(pool) for pool in self._pools))
        return {shard: missing for shard, have in enumerate(done)
                if (missing := [v for v in wanted if v not in have])}

    async def bucket_problems(self) -> list[str]:
        """What is wrong with the bucket map now: buckets without a shard, owned twice, or in
        the middle of a move (an empty list when every bucket has exactly one owner)."""
        return map_problems(await self.bucket_rows())
