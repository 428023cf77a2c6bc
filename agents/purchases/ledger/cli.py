"""``python -m agents.purchases.ledger``: the ledger's operator commands.

    migrate        create the shards' databases, apply pending migrations, seed buckets
    buckets        how many buckets each shard owns, and any problem with the map
    move-buckets   move buckets to a shard (``--to``, ``--count``, ``--dry-run``), e.g. to a
                   shard just appended to MYSQL_SHARDS
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from agents.purchases.ledger.moves import move_buckets
from agents.purchases.ledger.store import Ledger


def main(argv: list[str] | None = None) -> int:
    """Run one command; shards from ``--shards`` or ``MYSQL_SHARDS``. Returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m agents.purchases.ledger")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("migrate", "create the databases, apply pending migrations, seed buckets"),
        ("buckets", "show which shard owns how many buckets"),
        ("move-buckets", "move buckets to a shard while the ledger is in use"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--shards", default=os.environ.get("MYSQL_SHARDS", ""),
            help="comma-separated mysql:// DSNs (default: $MYSQL_SHARDS)",
        )
        if name == "move-buckets":
            command.add_argument("--to", type=int, required=True, help="the target shard index")
            command.add_argument("--count", type=int, default=None,
                                 help="how many buckets (default: the target's fair share)")
            command.add_argument("--batch", type=int, default=64, help="buckets per move")
            command.add_argument("--dry-run", action="store_true", help="print the plan only")
    args = parser.parse_args(argv)
    if not args.shards:
        parser.error("no shards: set MYSQL_SHARDS or pass --shards")
    run: Callable[[Ledger, Any], Awaitable[int]] = {
        "migrate": _migrate, "buckets": _buckets, "move-buckets": _move,
    }[args.command]
    return asyncio.run(_with_ledger(args, run))


async def _with_ledger(args: Any, run: Callable[..., Awaitable[int]]) -> int:
    ledger = await Ledger.open(args.shards, migrate=args.command != "migrate")
    try:
        return await run(ledger, args)
    finally:
        await ledger.close()


async def _migrate(ledger: Ledger, args: Any) -> int:
    for shard, versions in (await ledger.migrate()).items():
        done = ", ".join(str(v) for v in versions) or "nothing (up to date)"
        print(f"shard {shard}: applied {done}")
    return 0


async def _buckets(ledger: Ledger, args: Any) -> int:
    rows = await ledger.bucket_rows()
    for shard, shard_rows in rows.items():
        states = Counter(state for _, state in shard_rows)
        print(f"shard {shard}: {states['owned']} owned, {states['moving']} moving")
    problems = await ledger.bucket_problems()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


async def _move(ledger: Ledger, args: Any) -> int:
    await move_buckets(ledger, args.to, args.count, batch_size=args.batch, dry_run=args.dry_run)
    return 0
