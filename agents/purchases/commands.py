"""The purchases service's operator commands, on its Faust app:

    faust -A agents.purchases.app migrate               the ledger's schema, on every shard
    faust -A agents.purchases.app ledger-buckets        which shard owns how many buckets
    faust -A agents.purchases.app ledger-move-buckets --to N [--count C] [--dry-run]

Migrations are an explicit step: ``make run`` and the tests run ``migrate`` before any
worker starts, a deployment runs it as a job; a purchases worker whose ledger lacks a
migration refuses to start (see :mod:`agents.purchases.agent`).
"""

from __future__ import annotations

from collections import Counter

from faust.cli import option

from agents.purchases.app import app, service
from agents.purchases.ledger import Ledger, move_buckets
from picasso.service import Command


async def open_ledger() -> Ledger:
    """The ledger on the settings' shards, as it is: nothing migrated on the way."""
    return await Ledger.open(list(service.settings.mysql_shards), migrate=False)


@app.command(base=Command)
async def migrate(self: Command) -> int:
    """Apply the ledger's pending migrations on every shard, and give a fresh deployment's
    shards their buckets."""
    async with await open_ledger() as ledger:
        for shard, versions in (await ledger.migrate()).items():
            done = ", ".join(str(v) for v in versions) or "nothing (up to date)"
            print(f"migrate: shard {shard}: applied {done}", flush=True)
    return 0


@app.command(base=Command)
async def ledger_buckets(self: Command) -> int:
    """Print how many buckets each shard owns (or is moving) and any problem with the map;
    exit status 1 if there is one."""
    async with await open_ledger() as ledger:
        for shard, rows in (await ledger.bucket_rows()).items():
            states = Counter(state for _, state in rows)
            print(f"shard {shard}: {states['owned']} owned, {states['moving']} moving")
        problems = await ledger.bucket_problems()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


@app.command(
    option("--to", "to", type=int, required=True,
           help="The shard (its place in MYSQL_SHARDS, from 0) that receives buckets."),
    option("--count", type=int, default=None,
           help="How many buckets (default: the target's fair share)."),
    option("--batch", type=int, default=64, help="Buckets moved per step."),
    option("--dry-run", is_flag=True, default=False, help="Print the plan, move nothing."),
    base=Command,
)
async def ledger_move_buckets(self: Command, to: int, count: int | None, batch: int,
                              dry_run: bool) -> int:
    """Move buckets of users (their purchases, licences, sales) to a shard while purchases go
    on, e.g. to a shard just appended to MYSQL_SHARDS; run again to finish a cut-off move."""
    async with await open_ledger() as ledger:
        await move_buckets(ledger, to, count, batch_size=batch, dry_run=dry_run)
    return 0
