"""Moving buckets between shards while purchases go on (the Z axis: a shard can be added).

A move of some buckets from shard S to shard T, in three transactions:

1. On S, mark them ``moving`` (to T). The UPDATE waits for the transactions holding a shared
   lock on them; transactions that come later see ``moving`` and wait for the move to end.
2. On T, in one transaction: copy every row of those buckets from S (after removing any
   leftover of them on T) and insert T's ownership rows. From its commit T owns them, and a
   process whose map is stale finds that S no longer serves them.
3. On S, in one transaction: delete their rows and ownership rows.

Each step is idempotent, so a move interrupted anywhere finishes when run again: buckets
left ``moving`` are resumed first, to the shard they were moving to, and step 2 skips the
buckets T already owns. Only one mover runs at a time (a lock on the first shard).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiomysql
import structlog

from agents.purchases.ledger.migrations import _NamedLock
from agents.purchases.ledger.records import LedgerError, now
from agents.purchases.ledger.routing import BUCKETS, parse_dsn

if TYPE_CHECKING:
    from agents.purchases.ledger.store import Ledger

log = structlog.get_logger()

# How to find a bucket's rows in every table keyed by a user: the FROM clause (the table is
# ``t``) and the column holding the bucket. Tables keyed by a purchase follow the purchase.
# The order is the order of deletion (rows found through ``purchases`` before ``purchases``).
_BY_PURCHASE = " t JOIN purchases u ON u.purchase_id = t.purchase_id"
_BUCKETED: dict[str, tuple[str, str]] = {
    "payments": (_BY_PURCHASE, "u.bucket"),
    "processed_commands": (_BY_PURCHASE, "u.bucket"),
    "purchases": (" t", "t.bucket"),
    "licences": (" t", "t.bucket"),
    "sales": (" t", "t.bucket"),
    "seller_totals": (" t", "t.bucket"),
}
_NOT_USER_DATA = frozenset({"schema_migrations", "ledger_buckets", "ledger_layout"})


@dataclass(frozen=True, slots=True)
class BucketMove:
    """Some buckets going from one shard to another, as one batch."""

    source: int
    target: int
    buckets: tuple[int, ...]
    resumed: bool = False
    """Begun by an earlier run that was interrupted."""

    def describe(self) -> str:
        what = "resume moving" if self.resumed else "move"
        return (f"{what} {len(self.buckets)} buckets from shard {self.source} to shard "
                f"{self.target}: {_ranges(self.buckets)}")


async def plan_moves(
    ledger: Ledger, to_shard: int, count: int | None = None, *, batch_size: int = 64
) -> list[BucketMove]:
    """The moves that give ``to_shard`` ``count`` more buckets (by default its fair share,
    BUCKETS / shards, minus what it owns), taken from the shards owning the most, preceded
    by the moves an interrupted run left unfinished."""
    if not 0 <= to_shard < ledger.shard_count:
        raise ValueError(f"no shard {to_shard}: the list has {ledger.shard_count}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    rows = await _ownership(ledger)
    plan: list[BucketMove] = []
    owned: dict[int, list[int]] = {shard: [] for shard in range(ledger.shard_count)}
    for shard, shard_rows in rows.items():
        moving: dict[int, list[int]] = {}
        for bucket, state, moving_to in shard_rows:
            if state == "moving":
                moving.setdefault(moving_to, []).append(bucket)
            else:
                owned[shard].append(bucket)
        for target, buckets in sorted(moving.items()):
            plan += _batches(shard, target, buckets, batch_size, resumed=True)
    if count is None:
        count = max(0, BUCKETS // ledger.shard_count - len(owned[to_shard]))
    available = sum(len(b) for s, b in owned.items() if s != to_shard)
    if not 0 <= count <= available:
        raise ValueError(f"count must be from 0 to {available} (the buckets other shards own)")
    taken: dict[int, list[int]] = {}
    for _ in range(count):
        source = max((s for s in owned if s != to_shard), key=lambda s: (len(owned[s]), -s))
        taken.setdefault(source, []).append(owned[source].pop())
    for source, buckets in sorted(taken.items()):
        plan += _batches(source, to_shard, sorted(buckets), batch_size)
    return plan


async def move_buckets(
    ledger: Ledger,
    to_shard: int,
    count: int | None = None,
    *,
    batch_size: int = 64,
    dry_run: bool = False,
    say: Callable[[str], Any] = print,
) -> list[BucketMove]:
    """Move ``count`` buckets (default: its fair share) to shard ``to_shard`` while the
    ledger is in use, finishing first any move an earlier run left halfway; returns the
    plan. With ``dry_run`` it only says the plan. ``say`` receives one line per step.

    Adding a shard: append its DSN to ``MYSQL_SHARDS``, restart the processes (the new shard
    is migrated and owns no bucket), then run this with the new shard's index.
    """
    plan = await plan_moves(ledger, to_shard, count, batch_size=batch_size)
    if dry_run:
        for move in plan:
            say(f"would {move.describe()}")
        say(f"dry run: {len(plan)} moves, nothing changed")
        return plan
    database = parse_dsn(ledger.dsns[0]).database
    async with ledger._pools[0].acquire() as conn, _NamedLock(
        conn, f"picasso.bucket_moves.{database}", "bucket move"
    ):
        for move in plan:
            await _move(ledger, move)
            say(f"done: {move.describe()}")
    return plan


async def _move(ledger: Ledger, move: BucketMove) -> None:
    source, target, wanted = move.source, move.target, move.buckets
    marks = _marks(wanted)

    async def mark(cur: aiomysql.Cursor) -> tuple[int, ...]:
        await cur.execute(
            f"SELECT bucket, state, moving_to FROM ledger_buckets WHERE bucket IN ({marks}) "
            "FOR UPDATE",
            wanted,
        )
        rows = await cur.fetchall()
        for bucket, state, moving_to in rows:
            if state == "moving" and moving_to != target:
                raise LedgerError(f"bucket {bucket} is already moving to shard {moving_to}")
        await cur.execute(
            "UPDATE ledger_buckets SET state = 'moving', moving_to = %s, updated_at = %s "
            f"WHERE bucket IN ({marks}) AND state = 'owned'",
            (target, now(), *wanted),
        )
        return tuple(sorted(int(row[0]) for row in rows))

    present = await ledger._run(source, mark)
    if not present:
        return  # moved by an earlier run
    buckets_in = _marks(present)

    async def copy(cur: aiomysql.Cursor) -> None:
        await cur.execute(
            f"SELECT bucket FROM ledger_buckets WHERE bucket IN ({buckets_in}) FOR UPDATE",
            present,
        )
        have = {int(row[0]) for row in await cur.fetchall()}
        todo = tuple(b for b in present if b not in have)
        if not todo:
            return
        columns = await _columns(cur)
        rows = await ledger._run(source, lambda src: _read(src, columns, todo))
        await _delete(cur, todo)  # leftovers: a shard not owning a bucket holds none of it
        for table, table_rows in rows.items():
            if table_rows:
                names = ", ".join(columns[table])
                await cur.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({_marks(columns[table])})",
                    table_rows,
                )
        at = now()
        await cur.executemany(
            "INSERT INTO ledger_buckets (bucket, state, moving_to, updated_at) "
            "VALUES (%s, 'owned', NULL, %s)",
            [(b, at) for b in todo],
        )
        log.info("ledger.buckets_copied", source=source, target=target, buckets=len(todo),
                 rows={table: len(r) for table, r in rows.items()})

    await ledger._run(target, copy)

    async def owned_on_target(cur: aiomysql.Cursor) -> int:
        await cur.execute(
            f"SELECT COUNT(*) FROM ledger_buckets WHERE bucket IN ({buckets_in}) "
            "AND state = 'owned'",
            present,
        )
        return int((await cur.fetchone())[0])

    if await ledger._run(target, owned_on_target) != len(present):
        raise LedgerError(f"shard {target} does not own all of {present} after the copy")

    async def drop(cur: aiomysql.Cursor) -> None:
        await _delete(cur, present)
        await cur.execute(
            f"DELETE FROM ledger_buckets WHERE bucket IN ({buckets_in}) AND state = 'moving'",
            present,
        )

    await ledger._run(source, drop)
    await ledger.refresh_bucket_map()


async def _ownership(ledger: Ledger) -> dict[int, list[tuple[int, str, int | None]]]:
    async def rows(cur: aiomysql.Cursor) -> list[tuple[int, str, int | None]]:
        await cur.execute("SELECT bucket, state, moving_to FROM ledger_buckets ORDER BY bucket")
        return [(int(b), s, None if m is None else int(m)) for b, s, m in await cur.fetchall()]

    return dict(enumerate(await ledger._scatter(rows)))


async def _columns(cur: aiomysql.Cursor) -> dict[str, list[str]]:
    """The stored (not generated) columns of every table keyed by a user; refuses a table
    it does not know how to move, so that a new table cannot be silently left behind."""
    await cur.execute(
        "SELECT TABLE_NAME, COLUMN_NAME, IS_GENERATED FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME, ORDINAL_POSITION"
    )
    columns: dict[str, list[str]] = {}
    for table, column, generated in await cur.fetchall():
        if table in _NOT_USER_DATA:
            continue
        if table not in _BUCKETED:
            raise LedgerError(f"table {table} has no rule in moves._BUCKETED: cannot move it")
        if generated == "NEVER":
            columns.setdefault(table, []).append(column)
    return {table: columns[table] for table in _BUCKETED}


async def _read(
    cur: aiomysql.Cursor, columns: dict[str, list[str]], buckets: tuple[int, ...]
) -> dict[str, list[tuple[Any, ...]]]:
    rows = {}
    for table, (joined, bucket_column) in _BUCKETED.items():
        names = ", ".join(f"t.{c}" for c in columns[table])
        await cur.execute(
            f"SELECT {names} FROM {table}{joined} WHERE {bucket_column} IN ({_marks(buckets)})",
            buckets,
        )
        rows[table] = list(await cur.fetchall())
    return rows


async def _delete(cur: aiomysql.Cursor, buckets: tuple[int, ...]) -> None:
    for table, (joined, bucket_column) in _BUCKETED.items():
        await cur.execute(
            f"DELETE t FROM {table}{joined} WHERE {bucket_column} IN ({_marks(buckets)})",
            buckets,
        )


def _batches(
    source: int, target: int, buckets: list[int], size: int, *, resumed: bool = False
) -> list[BucketMove]:
    return [BucketMove(source, target, tuple(buckets[i:i + size]), resumed)
            for i in range(0, len(buckets), size)]


def _marks(values: tuple[Any, ...] | list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _ranges(buckets: tuple[int, ...]) -> str:
    """``0-3, 7`` for buckets 0, 1, 2, 3, 7."""
    parts, start = [], None
    for i, bucket in enumerate(buckets):
        if start is None:
            start = bucket
        if i + 1 == len(buckets) or buckets[i + 1] != bucket + 1:
            parts.append(str(start) if start == bucket else f"{start}-{bucket}")
            start = None
    return ", ".join(parts)


