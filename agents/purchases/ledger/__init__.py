"""The purchases ledger: purchases, payments, licences and sales in MySQL / MariaDB shards.

The ledger is the purchases service's store and the only copy of the money facts, so every
operation is one database transaction (or, across two shards, two idempotent ones), money is
integer cents, and every operation may be repeated: Kafka delivers at least once and Stripe
redelivers webhooks.

Rooms
    ``records``     what it hands out and raises (Purchase, Sale, LedgerError, ...), checks
    ``routing``     shard DSNs, buckets, the bucket map, the ownership claim
    ``shards``      pools, transactions and retries, routed transactions
    ``queries``     reads
    ``states``      writes: the purchase state machine
    ``store``       :class:`Ledger`, the whole of it
    ``migrations``  the versioned SQL files of ``agents/purchases/migrations/``, bucket seeding
    ``moves``       moving buckets between shards while purchases go on
    (the operator's commands are the purchases app's: :mod:`agents.purchases.commands`)

Sharding (the Z axis of the scale cube)
    The shards are the setting ``MYSQL_SHARDS``, a comma-separated list of DSNs
    (:func:`parse_shards`); a shard's index is its place in the list, so shards are appended,
    never reordered or removed. Users are hashed into :data:`BUCKETS` (4096) fixed buckets
    (:func:`bucket_of`: sha256, first 8 bytes, mod 4096) and each bucket is owned by one
    shard. A purchase, its payments, its licence and the command ids that made it live with
    the BUYER's bucket, so ``/me/purchases`` and download checks read one shard. When a
    purchase completes, a row in ``sales`` and the running ``seller_totals`` are written with
    the SELLER's bucket, so ``/me/sales`` reads one shard too, with no scatter-gather.

The bucket map
    There is no directory server: each shard lists the buckets it owns in its table
    ``ledger_buckets`` (state ``owned`` or ``moving``), and the map is derived by asking every
    shard; the Ledger caches it and reads it again on a miss. Every transaction on a user's
    rows first claims the user's bucket on its shard, inside the same transaction
    (``SELECT ... LOCK IN SHARE MODE`` on the ownership row). Not there (moved away): the
    Ledger refreshes its map and runs the transaction on the right shard. ``moving``: it waits
    briefly and tries again. A stale map in a running process is therefore harmless. When a
    transaction also writes the seller's rows (a sale on the buyer's shard), it claims the
    seller's bucket without waiting (``NOWAIT``); if that fails the sale goes the two-shard
    way below, through the seller's own routed transaction.

    A fresh deployment of N shards gives bucket b to shard b % N (one transaction per shard,
    recorded in ``ledger_layout``, under a lock; an interrupted seed finishes on the next
    start). When N divides 4096 (any power of two) b % N == sha256 mod N, the placement of
    the ledger before buckets, so such a deployment's rows are already where the map says
    (:func:`shard_of` is that initial placement). Another N with data present is refused.

Adding a shard
    Append its DSN to ``MYSQL_SHARDS``, run ``faust -A agents.purchases.app migrate`` and
    restart the purchases workers: the new shard owns no bucket. Then ``faust -A
    agents.purchases.app ledger-move-buckets --to <index> [--count N] [--dry-run]`` moves
    buckets to it while purchases go on: mark ``moving`` on the source (waiting for the
    transactions that hold the bucket), copy the bucket's rows and ownership to the target
    in one transaction, delete them on the source. A move interrupted anywhere finishes when
    the command runs again. The rows of a bucket are found through a stored generated
    ``bucket`` column (migration 0003); tables keyed by a purchase follow their purchase.

Two shards, two transactions
    When the seller's bucket is on the buyer's shard, :meth:`Ledger.complete` writes
    everything in one transaction. Otherwise it commits the buyer's side (payment, status,
    licence) first, then the sale and totals on the seller's shard in a second transaction,
    then sets the purchase's ``sale_recorded`` flag (an outbox). The sale's primary key
    (seller_id, purchase_id) makes the second step idempotent: if the process dies between
    the steps, the purchase is completed but ``sale_recorded`` is still false, and running
    ``complete`` again (the redelivered webhook or command does exactly that) or
    :meth:`Ledger.reconcile_sales` writes the missing sale exactly once. Money is never at
    risk in the gap: only the seller's read model lags.

Concurrency
    Sessions run at READ COMMITTED (no gap locks, so concurrent inserts do not deadlock) and
    every state change first locks the purchase row (``SELECT ... FOR UPDATE``). Deadlocks,
    lock-wait timeouts and lost connections are retried, which is safe because each operation
    is idempotent. The periodic jobs' reads that ask every shard (overdue, unapplied
    payments, the sales repair) skip buckets in the middle of a move, whose rows are on two
    shards for a moment; :meth:`Ledger.find` reads what it finds again from the buyer's
    shard, and asks every shard twice before it answers None.

Schema
    Versioned SQL files in ``migrations/`` (``NNNN_name.sql``), each applied once per shard in
    order and recorded in ``schema_migrations``, under a per-database ``GET_LOCK`` so that
    workers starting together do not race. They run from ``faust -A agents.purchases.app
    migrate`` (the explicit step before workers start; a purchases worker opens the ledger
    with ``migrate=False`` and refuses one that lacks a migration) or :meth:`Ledger.open`
    (tests).
"""

from agents.purchases.ledger.migrations import MIGRATIONS_DIR, Migration, load_migrations
from agents.purchases.ledger.moves import BucketMove, move_buckets, plan_moves
from agents.purchases.ledger.records import (
    AlreadyOwned,
    LedgerConflict,
    LedgerError,
    Payment,
    Purchase,
    PurchaseNotFound,
    Sale,
    SellerTotal,
)
from agents.purchases.ledger.routing import (
    BUCKETS,
    ShardDsn,
    bucket_of,
    parse_dsn,
    parse_shards,
    shard_of,
)
from agents.purchases.ledger.store import Ledger
from topics.purchases import STATUSES  # the contract's; the ledger keeps no copy

__all__ = [
    "BUCKETS",
    "MIGRATIONS_DIR",
    "STATUSES",
    "AlreadyOwned",
    "BucketMove",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "Migration",
    "Payment",
    "Purchase",
    "PurchaseNotFound",
    "Sale",
    "SellerTotal",
    "ShardDsn",
    "bucket_of",
    "load_migrations",
    "move_buckets",
    "parse_dsn",
    "parse_shards",
    "plan_moves",
    "shard_of",
]
