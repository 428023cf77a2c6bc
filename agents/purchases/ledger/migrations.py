"""The schema: versioned SQL files applied once per shard, and the buckets a fresh
deployment gives each shard.

Versioned SQL files in ``agents/purchases/migrations/`` (``NNNN_name.sql``), each applied
once per shard in order and recorded in ``schema_migrations``, under a per-database
``GET_LOCK`` so that workers starting together do not race. MariaDB and MySQL commit DDL
implicitly, so the version is recorded right after its statements and every statement is
idempotent (``IF NOT EXISTS``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import aiomysql
import structlog

from agents.purchases.ledger.records import LedgerError, now
from agents.purchases.ledger.routing import BUCKETS, initial_owner

log = structlog.get_logger()

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
"""Where the versioned ``NNNN_name.sql`` files live."""

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    checksum: str
    statements: tuple[str, ...]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Read ``NNNN_name.sql`` files in version order; refuses gaps in the numbering and
    duplicate versions. Statements end with ``;`` at the end of a line; whole-line ``--``
    comments are dropped."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if match is None:
            raise LedgerError(f"migration file name must look like 0001_name.sql: {path.name}")
        text = path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        statements = tuple(
            s.strip() for s in re.split(r";[ \t]*(?:\n|$)", "\n".join(lines)) if s.strip()
        )
        migrations.append(
            Migration(
                version=int(match.group(1)),
                name=match.group(2),
                checksum=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                statements=statements,
            )
        )
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise LedgerError(f"migration versions must run 1, 2, 3 … without gaps: {versions}")
    return migrations


class _NamedLock:
    """A server-wide ``GET_LOCK`` held on one connection (not a transaction lock)."""

    def __init__(self, conn: aiomysql.Connection, name: str, what: str) -> None:
        self.conn, self.name, self.what = conn, name[:64], what

    async def __aenter__(self) -> aiomysql.Cursor:
        self.cur = await self.conn.cursor()
        await self.cur.execute("SELECT GET_LOCK(%s, %s)", (self.name, _LOCK_SECONDS))
        (locked,) = await self.cur.fetchone()
        await self.conn.commit()
        if locked != 1:
            raise LedgerError(f"another process holds the {self.what} lock")
        return self.cur

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cur.execute("SELECT RELEASE_LOCK(%s)", (self.name,))
        await self.cur.fetchall()
        await self.conn.commit()
        await self.cur.close()


async def applied_versions(pool: aiomysql.Pool) -> set[int]:
    """The migrations recorded on one shard (none on a shard never migrated)."""
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SHOW TABLES LIKE 'schema_migrations'")
        if await cur.fetchone() is None:
            await conn.commit()
            return set()
        await cur.execute("SELECT version FROM schema_migrations")
        versions = {int(version) for (version,) in await cur.fetchall()}
        await conn.commit()
        return versions


async def migrate_shard(
    pool: aiomysql.Pool, database: str, shard: int, migrations: list[Migration]
) -> list[int]:
    """Apply the migrations not yet applied on one shard; returns the versions applied."""
    async with pool.acquire() as conn, _NamedLock(
        conn, f"picasso.migrations.{database}", f"shard {shard}'s migration"
    ) as cur:
        await cur.execute("SHOW TABLES LIKE 'schema_migrations'")
        if await cur.fetchone() is None:
            await cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
                "checksum CHAR(64) NOT NULL, applied_at DATETIME(3) NOT NULL"
                ") ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"
            )
        await conn.commit()
        await cur.execute("SELECT version, checksum FROM schema_migrations")
        done = {int(version): checksum for version, checksum in await cur.fetchall()}
        await conn.commit()
        applied: list[int] = []
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    log.warning(
                        "ledger.migration_changed", shard=shard,
                        version=migration.version, name=migration.name,
                    )
                continue
            await conn.begin()
            try:
                for statement in migration.statements:
                    await cur.execute(statement)
                await cur.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    "VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, migration.checksum, now()),
                )
                await conn.commit()
            except BaseException:
                await conn.rollback()
                raise
            log.info(
                "ledger.migration_applied", shard=shard, version=migration.version,
                name=migration.name,
            )
            applied.append(migration.version)
        return applied


async def seed_buckets(pools: list[aiomysql.Pool], first_database: str) -> None:
    """Give every shard its first buckets, once, under a lock on the first shard.

    Each shard records in ``ledger_layout`` that it was seeded, in the same transaction as its
    ``ledger_buckets`` rows, and how many shards the first layout spread buckets over (N0).
    When no shard has a layout, this is a fresh deployment (or one from before buckets): N0
    is the number of shards listed and shard i gets every bucket b with b % N0 == i. A shard
    without a layout below N0 is finished the same way (a seed interrupted midway); one at N0
    or beyond is a shard added later: it is recorded as seeded with no bucket, and receives
    buckets only from moves.
    """
    async with pools[0].acquire() as conn, _NamedLock(
        conn, f"picasso.buckets.{first_database}", "bucket seeding"
    ):
        layouts: list[int | None] = []
        for pool in pools:
            async with pool.acquire() as shard_conn, shard_conn.cursor() as cur:
                await cur.execute("SELECT seeded_shards FROM ledger_layout WHERE id = 1")
                row = await cur.fetchone()
                await shard_conn.commit()
                layouts.append(None if row is None else int(row[0]))
        first_layouts = {n for n in layouts if n}
        if len(first_layouts) > 1:
            raise LedgerError(f"the shards disagree on their first layout: {layouts}")
        if first_layouts:
            seeded_shards = first_layouts.pop()
            if seeded_shards > len(pools):
                raise LedgerError(
                    f"the buckets were first spread over {seeded_shards} shards, but only "
                    f"{len(pools)} are listed: a shard was removed from the list"
                )
        else:
            seeded_shards = len(pools)
            if BUCKETS % seeded_shards and await _has_purchases(pools):
                raise LedgerError(
                    f"{seeded_shards} shards hold purchases placed by hash mod "
                    f"{seeded_shards}, which buckets cannot express (it must divide "
                    f"{BUCKETS}); move those rows by hand first"
                )
        for shard, (pool, layout) in enumerate(zip(pools, layouts, strict=True)):
            if layout is None:
                await _seed_shard(pool, shard, seeded_shards)


async def _has_purchases(pools: list[aiomysql.Pool]) -> bool:
    for pool in pools:
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1 FROM purchases LIMIT 1")
            found = await cur.fetchone() is not None
            await conn.commit()
            if found:
                return True
    return False


async def _seed_shard(pool: aiomysql.Pool, shard: int, seeded_shards: int) -> None:
    buckets = [b for b in range(BUCKETS) if shard < seeded_shards
               and initial_owner(b, seeded_shards) == shard]
    at = now()
    async with pool.acquire() as conn, conn.cursor() as cur:
        await conn.begin()
        try:
            if buckets:
                await cur.executemany(
                    "INSERT INTO ledger_buckets (bucket, state, moving_to, updated_at) "
                    "VALUES (%s, 'owned', NULL, %s)",
                    [(b, at) for b in buckets],
                )
            await cur.execute(
                "INSERT INTO ledger_layout (id, shard_index, seeded_shards, seeded_at) "
                "VALUES (1, %s, %s, %s)",
                (shard, seeded_shards if buckets else 0, at),
            )
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
    log.info("ledger.buckets_seeded", shard=shard, buckets=len(buckets))
