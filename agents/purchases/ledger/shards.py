"""Connections and transactions: one aiomysql pool per shard, the retry loop, and routed
transactions that claim the user's bucket first and follow it when it moved."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Self, TypeVar

import aiomysql
import pymysql
import structlog

from agents.purchases.ledger.records import LedgerError, Retry
from agents.purchases.ledger.routing import (
    BucketGone,
    BucketMoving,
    ShardDsn,
    bucket_of,
    claim_bucket,
    initial_owner,
    owners_from,
    parse_dsn,
    parse_shards,
)
from picasso.failures import MYSQL_TRANSIENT_CODES, describe

log = structlog.get_logger()

T = TypeVar("T")
Work = Callable[[aiomysql.Cursor], Awaitable[T]]

# Session settings for every pooled connection: strict SQL (bad data is an error, never a
# silent truncation), UTC, and READ COMMITTED (see the package docstring). Two statements:
# aiomysql always enables multi-statements, and the isolation level's variable is spelled
# differently by MariaDB (tx_isolation) and MySQL 8 (transaction_isolation).
_INIT_COMMAND = (
    "SET SESSION sql_mode = 'TRADITIONAL', SESSION time_zone = '+00:00'; "
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
)
_ATTEMPTS = 4
_MOVE_WAIT_S = 30.0
"""How long a transaction waits for a bucket move before giving up."""


class ShardPools:
    """The shards of the ledger and how work runs on them. Create it with :meth:`open`."""

    def __init__(self, dsns: Sequence[str], pools: Sequence[aiomysql.Pool]) -> None:
        self.dsns: tuple[str, ...] = tuple(dsns)
        self._pools: tuple[aiomysql.Pool, ...] = tuple(pools)
        self._owners: list[int | None] | None = None
        self._map_version = 0
        self._map_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        dsns: Sequence[str] | str,
        *,
        migrate: bool = True,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> Self:
        """Connect to every shard (a DSN list or a ``MYSQL_SHARDS`` string).

        Creates each shard's database if it is missing and, unless ``migrate`` is false,
        brings its schema up to date and gives a fresh deployment its buckets. Raises if any
        shard cannot be reached.
        """
        shard_dsns = parse_shards(dsns) if isinstance(dsns, str) else list(dsns)
        if not shard_dsns:
            raise ValueError("no shard given")
        parse_shards(",".join(shard_dsns))  # validates each DSN and refuses duplicates
        pools: list[aiomysql.Pool] = []
        try:
            for dsn in shard_dsns:
                parsed = parse_dsn(dsn)
                await _create_database(parsed, connect_timeout)
                pools.append(await _create_pool(parsed, pool_size, connect_timeout))
            ledger = cls(shard_dsns, pools)
            if migrate:
                await ledger.migrate()
                await ledger.refresh_bucket_map()
        except BaseException:
            await _close_pools(pools)
            raise
        return ledger

    async def migrate(self) -> dict[int, list[int]]:
        """Bring the shards' schema up to date (the :class:`Ledger` does)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close every pool, waiting for connections in use to be returned."""
        await _close_pools(self._pools)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Run ``SELECT 1`` on every shard; raises if any shard does not answer."""

        async def select_1(cur: aiomysql.Cursor) -> None:
            await cur.execute("SELECT 1")
            await cur.fetchall()

        await self._scatter(select_1)

    # -- routing -----------------------------------------------------------------------------

    @property
    def shard_count(self) -> int:
        """How many shards the list names."""
        return len(self._pools)

    def shard_for(self, user_id: str) -> int:
        """The shard of ``user_id`` under this ledger's cached bucket map (before the map was
        first loaded: the initial placement, :func:`shard_of`). Only a hint for callers that
        look at a shard themselves: the ledger's own transactions check ownership."""
        bucket = bucket_of(user_id)
        owner = None if self._owners is None else self._owners[bucket]
        return initial_owner(bucket, self.shard_count) if owner is None else owner

    async def bucket_rows(self) -> dict[int, list[tuple[int, str]]]:
        """Every shard's ``(bucket, state)`` ownership rows, read now."""

        async def rows(cur: aiomysql.Cursor) -> list[tuple[int, str]]:
            await cur.execute("SELECT bucket, state FROM ledger_buckets ORDER BY bucket")
            return [(int(bucket), state) for bucket, state in await cur.fetchall()]

        return dict(enumerate(await self._scatter(rows)))

    async def refresh_bucket_map(self, seen_version: int | None = None) -> None:
        """Read the bucket map from the shards again. With ``seen_version``, only if nobody
        refreshed it since that version was read (many misses at once refresh once)."""
        async with self._map_lock:
            if seen_version is not None and seen_version != self._map_version:
                return
            self._owners = owners_from(await self.bucket_rows())
            self._map_version += 1

    # -- transactions ------------------------------------------------------------------------

    async def _run_for(self, user_id: str, work: Work[T]) -> T:
        """Run ``work`` in one transaction on the shard that owns ``user_id``'s bucket, after
        claiming the bucket there (see :func:`claim_bucket`). A stale map is refreshed and
        the work runs on the right shard; while a move holds the bucket it waits (at most
        ``_MOVE_WAIT_S``: a mover that died after marking a bucket ``moving`` and before
        the target's copy leaves its users waiting until the move is run again)."""
        bucket = bucket_of(user_id)

        async def claimed(cur: aiomysql.Cursor) -> T:
            await claim_bucket(cur, bucket)
            return await work(cur)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + _MOVE_WAIT_S
        delay = 0.005
        while True:
            if self._owners is None:
                await self.refresh_bucket_map()
            version, owners = self._map_version, self._owners
            assert owners is not None
            shard = owners[bucket]
            try:
                if shard is None:
                    raise BucketGone(bucket)
                return await self._run(shard, claimed)
            except BucketMoving:
                # The target may own it already (the source's last step is under way, or
                # the mover died before it): a fresh map goes there, else wait here.
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
                await self.refresh_bucket_map(version)
            except BucketGone:
                await self.refresh_bucket_map(version)
                if self._owners is not None and self._owners[bucket] == shard:
                    await asyncio.sleep(delay)  # the move's copy is not visible yet
                    delay = min(delay * 2, 0.1)
            if loop.time() > deadline:
                raise LedgerError(f"bucket {bucket} found on no shard for {_MOVE_WAIT_S} s")

    async def _scatter(self, work: Work[T]) -> list[T]:
        """``work`` on every shard at once (no bucket claimed), results in shard order."""
        return list(await asyncio.gather(*(self._run(s, work) for s in range(self.shard_count))))

    async def _run(self, shard: int, work: Work[T]) -> T:
        """Run ``work`` in one transaction on ``shard``, committing if it returns.

        Retries the whole transaction after a deadlock, a lock wait timeout, a lost connection
        or a lost insert race; every operation is idempotent, so a retry after a commit whose
        answer was lost changes nothing.
        """
        for attempt in range(_ATTEMPTS):
            last = attempt == _ATTEMPTS - 1
            try:
                async with self._transaction(shard) as cur:
                    return await work(cur)
            except Retry:
                if last:
                    raise LedgerError("gave up after losing the same race repeatedly") from None
            except pymysql.err.OperationalError as exc:
                if last or exc.args[0] not in MYSQL_TRANSIENT_CODES:
                    raise
                log.info("ledger.retry", shard=shard, error=describe(exc), attempt=attempt + 1)
                await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def _transaction(self, shard: int) -> AsyncIterator[aiomysql.Cursor]:
        async with self._pools[shard].acquire() as conn:
            await conn.begin()
            try:
                async with conn.cursor() as cur:
                    yield cur
                await conn.commit()
            except asyncio.CancelledError:
                conn.close()  # mid-protocol: drop it; the server rolls back
                raise
            except BaseException:
                try:
                    await conn.rollback()
                except Exception:  # noqa: BLE001 - the connection is broken; the server rolls back
                    conn.close()
                raise


async def _create_database(dsn: ShardDsn, connect_timeout: float) -> None:
    conn = await aiomysql.connect(
        host=dsn.host, port=dsn.port, user=dsn.user, password=dsn.password,
        charset="utf8mb4", connect_timeout=connect_timeout, autocommit=True,
    )
    try:
        async with conn.cursor() as cur:
            # Look first: CREATE ... IF NOT EXISTS on an existing database raises a Warning.
            await cur.execute(
                "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (dsn.database,)
            )
            if await cur.fetchone() is None:
                await cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{dsn.database}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
    finally:
        conn.close()


async def _create_pool(dsn: ShardDsn, size: int, connect_timeout: float) -> aiomysql.Pool:
    return await aiomysql.create_pool(
        minsize=1, maxsize=size, pool_recycle=3600,
        host=dsn.host, port=dsn.port, user=dsn.user, password=dsn.password, db=dsn.database,
        charset="utf8mb4", autocommit=False, connect_timeout=connect_timeout,
        init_command=_INIT_COMMAND,
    )


async def _close_pools(pools: Sequence[aiomysql.Pool]) -> None:
    for pool in pools:
        pool.close()
    for pool in pools:
        await pool.wait_closed()
