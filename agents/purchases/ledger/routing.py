"""Where a user's rows live: shard DSNs, buckets, and the bucket map.

A user belongs to one of :data:`BUCKETS` logical buckets (:func:`bucket_of`, a stable hash);
each bucket is owned by one shard. Each shard lists the buckets it owns in its own
``ledger_buckets`` table, so the bucket map is derived by asking every shard
(:func:`owners_from`), and every transaction on a user's rows first claims the user's bucket
on its shard (:func:`claim_bucket`). See the package docstring for the whole design.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomysql
import pymysql

BUCKETS = 4096
"""How many logical buckets users are hashed into. Fixed for the life of the data: the
migration ``0003_buckets.sql`` computes the same bucket in SQL (the low 12 bits of the hash,
``16**3 == 4096``), so changing it is a data migration, not a setting."""

_DATABASE_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
_LOCK_WAIT_TIMEOUT = 1205


@dataclass(frozen=True, slots=True)
class ShardDsn:
    """Connection parameters parsed from one ``mysql://`` DSN."""

    host: str
    port: int
    user: str
    password: str
    database: str


def parse_dsn(dsn: str) -> ShardDsn:
    """Parse ``mysql://user[:password]@host[:port]/database`` (port 3306 by default)."""
    parts = urlsplit(dsn.strip())
    if parts.scheme not in ("mysql", "mariadb"):
        raise ValueError(f"not a mysql:// DSN: {dsn!r}")
    if not parts.hostname:
        raise ValueError(f"no host in DSN {dsn!r}")
    database = unquote(parts.path.lstrip("/"))
    if not _DATABASE_NAME.fullmatch(database):
        raise ValueError(f"DSN {dsn!r} needs a database name of letters, digits, _ $ or -")
    if parts.query or parts.fragment:
        raise ValueError(f"DSN options are not supported: {dsn!r}")
    return ShardDsn(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        database=database,
    )


def parse_shards(value: str) -> list[str]:
    """The shard list from the ``MYSQL_SHARDS`` setting: its comma-separated DSNs, in order.

    A shard's index is its position in this list, and bucket moves name shards by index, so
    new shards are appended and the list is never reordered or shortened once data exists.
    Each DSN is validated; two entries naming the same database are refused.
    """
    dsns = [item.strip() for item in value.split(",") if item.strip()]
    if not dsns:
        raise ValueError("MYSQL_SHARDS lists no shard")
    seen: set[tuple[str, int, str]] = set()
    for dsn in dsns:
        parsed = parse_dsn(dsn)
        where = (parsed.host.lower(), parsed.port, parsed.database)
        if where in seen:
            raise ValueError(f"shard listed twice: {dsn!r}")
        seen.add(where)
    return dsns


def bucket_of(user_id: str) -> int:
    """The bucket of ``user_id``: the first 8 bytes of sha256(user_id), big-endian, modulo
    :data:`BUCKETS`. Stable across processes, machines and Python versions (unlike
    ``hash()``), and equal to the ``bucket`` column the schema computes in SQL."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def initial_owner(bucket: int, shard_count: int) -> int:
    """The shard a fresh deployment of ``shard_count`` shards gives ``bucket``: bucket mod N."""
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    return bucket % shard_count


def shard_of(user_id: str, shard_count: int) -> int:
    """The shard of ``user_id`` in a fresh deployment of ``shard_count`` shards, before any
    bucket moved: ``bucket_of(user_id) % shard_count``.

    When ``shard_count`` divides :data:`BUCKETS` (any power of two up to it) this equals
    sha256 mod N, the placement of the ledger before buckets existed, so such a deployment's
    rows are already where the initial bucket map says. A running ledger routes through its
    bucket map instead (:meth:`Ledger.shard_for`).
    """
    return initial_owner(bucket_of(user_id), shard_count)


def owners_from(rows_by_shard: Mapping[int, Iterable[tuple[int, str]]]) -> list[int | None]:
    """The bucket map from each shard's ``(bucket, state)`` rows: for every bucket, the shard
    that owns it. A bucket that is ``owned`` somewhere maps there (during a move the target
    owns it while the source still says ``moving``); a bucket only ``moving`` maps to its
    source, where transactions wait for the move; a bucket no shard lists maps to None."""
    owners: list[int | None] = [None] * BUCKETS
    owned = [False] * BUCKETS
    for shard, rows in sorted(rows_by_shard.items()):
        for bucket, state in rows:
            if state == "owned" and not owned[bucket]:
                owners[bucket], owned[bucket] = shard, True
            elif owners[bucket] is None:
                owners[bucket] = shard
    return owners


def map_problems(rows_by_shard: Mapping[int, Iterable[tuple[int, str]]]) -> list[str]:
    """What is wrong with the shards' ownership rows, if anything: a bucket no shard owns, or
    one owned by two shards. Buckets in the middle of a move are reported as such."""
    holders: dict[int, list[tuple[int, str]]] = {}
    for shard, rows in rows_by_shard.items():
        for bucket, state in rows:
            holders.setdefault(bucket, []).append((shard, state))
    problems = []
    for bucket in range(BUCKETS):
        found = holders.get(bucket, [])
        owned = [shard for shard, state in found if state == "owned"]
        if not found:
            problems.append(f"bucket {bucket} has no shard")
        elif len(owned) > 1:
            problems.append(f"bucket {bucket} is owned by shards {sorted(owned)}")
        elif any(state == "moving" for _, state in found):
            problems.append(f"bucket {bucket} is moving: {sorted(found)}")
    return problems


# -- inside a transaction ----------------------------------------------------------------------


class BucketMoving(Exception):
    """Internal: this shard's bucket is being moved; wait and try again."""


class BucketGone(Exception):
    """Internal: this shard does not own the bucket (the cached map is stale)."""


async def claim_bucket(cur: aiomysql.Cursor, bucket: int) -> None:
    """Hold a shared lock on this shard's ownership row of ``bucket`` until the transaction
    ends, so that a move cannot start under it; raises :class:`BucketMoving` or
    :class:`BucketGone` if the bucket is not (or no longer) this shard's."""
    await cur.execute(
        "SELECT state FROM ledger_buckets WHERE bucket = %s LOCK IN SHARE MODE", (bucket,)
    )
    row = await cur.fetchone()
    if row is None:
        raise BucketGone(bucket)
    if row[0] != "owned":
        raise BucketMoving(bucket)


async def owns_now(cur: aiomysql.Cursor, bucket: int) -> bool:
    """Whether this shard owns ``bucket`` and no move holds it, claiming it if so; never
    waits (a move about to mark it answers False). For a second user's rows written in the
    same transaction (a seller's sale on the buyer's shard): False sends them the long way,
    through the seller's own routed transaction."""
    try:
        await cur.execute(
            "SELECT state FROM ledger_buckets WHERE bucket = %s LOCK IN SHARE MODE NOWAIT",
            (bucket,),
        )
    except pymysql.err.OperationalError as exc:
        if exc.args[0] == _LOCK_WAIT_TIMEOUT:
            return False  # only the statement failed; the transaction goes on
        raise
    row = await cur.fetchone()
    return row is not None and row[0] == "owned"
