"""The purchases ledger: purchases, payments, licences and sales in MySQL / MariaDB shards.

The ledger is the purchases agent's store and the only copy of the money facts, so every
operation is one database transaction (or, across two shards, two idempotent ones), money is
integer cents, and every operation may be repeated: Kafka delivers at least once and Stripe
redelivers webhooks.

Sharding (the Z axis of the scale cube)
    The shard map is the setting ``MYSQL_SHARDS``, a comma-separated list of DSNs
    (:func:`parse_shards`); a user's shard is :func:`shard_of` (sha256, mod N), the one routing
    function. A purchase, its payments and its licence live on the BUYER's shard, so
    ``/me/purchases`` and download checks read one shard. When a purchase completes, a row in
    ``sales`` and the running ``seller_totals`` are written on the SELLER's shard, so
    ``/me/sales`` reads one shard too, with no scatter-gather. Changing the number of shards
    moves users between shards: that needs a data migration, not just a new setting.

Two shards, two transactions
    When buyer and seller share a shard, :meth:`Ledger.complete` writes everything in one
    transaction. Otherwise it commits the buyer's side (payment, status, licence) first, then
    the sale and totals on the seller's shard in a second transaction, then sets the
    purchase's ``sale_recorded`` flag (an outbox). The sale's primary key (seller_id,
    purchase_id) makes the second step idempotent: if the process dies between the steps, the
    purchase is completed but ``sale_recorded`` is still false, and running ``complete`` again
    (the redelivered webhook or command does exactly that) or :meth:`Ledger.reconcile_sales`
    writes the missing sale exactly once. Money is never at risk in the gap: only the seller's
    read model lags.

Concurrency
    Sessions run at READ COMMITTED (no gap locks, so concurrent inserts do not deadlock) and
    every state change first locks the purchase row (``SELECT ... FOR UPDATE``). Deadlocks,
    lock-wait timeouts and lost connections are retried, which is safe because each operation
    is idempotent.

Schema
    Versioned SQL files in ``migrations/`` (``NNNN_name.sql``), each applied once per shard in
    order and recorded in ``schema_migrations``, under a per-database ``GET_LOCK`` so that
    workers starting together do not race. MariaDB and MySQL commit DDL implicitly, so the
    version is recorded right after its statements and every statement is idempotent (``IF
    NOT EXISTS``). They run from :meth:`Ledger.open` or from the command
    ``python -m agents.purchases.ledger migrate`` (shards from ``MYSQL_SHARDS`` or ``--shards``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aiomysql
import pymysql
import structlog

from picasso.failures import MYSQL_TRANSIENT_CODES
from topics.purchases import STATUSES

__all__ = [
    "MIGRATIONS_DIR",
    "STATUSES",
    "AlreadyOwned",
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
    "load_migrations",
    "main",
    "parse_dsn",
    "parse_shards",
    "shard_of",
]

log = structlog.get_logger()

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Where the versioned ``NNNN_name.sql`` files live."""

LIVE_STATUSES = frozenset({"pending", "awaiting_payment", "completed"})
"""A buyer may hold at most one purchase of a picture in these states."""
OPEN_STATUSES = frozenset({"pending", "awaiting_payment"})
"""States in which a purchase is still waiting for its payment."""

_ID_MAX = 128
_KEY_MAX = 255
_REASON_MAX = 1000
_CURRENCY = re.compile(r"^[a-z]{3}$")
_DATABASE_NAME = re.compile(r"^[A-Za-z0-9_$-]{1,64}$")
_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# Session settings for every pooled connection: strict SQL (bad data is an error, never a
# silent truncation), UTC, and READ COMMITTED (see the module docstring). Two statements:
# aiomysql always enables multi-statements, and the isolation level's variable is spelled
# differently by MariaDB (tx_isolation) and MySQL 8 (transaction_isolation).
_INIT_COMMAND = (
    "SET SESSION sql_mode = 'TRADITIONAL', SESSION time_zone = '+00:00'; "
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"
)
_ATTEMPTS = 4
_DUPLICATE_KEY = 1062
_MIGRATION_LOCK_SECONDS = 60

T = TypeVar("T")


# -- errors ------------------------------------------------------------------------------------


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class AlreadyOwned(LedgerError):
    """The buyer already has a live (pending, awaiting payment or completed) purchase of it."""

    def __init__(self, buyer_id: str, picture_id: str, purchase_id: str) -> None:
        super().__init__(
            f"buyer {buyer_id} already has purchase {purchase_id} of picture {picture_id}"
        )
        self.buyer_id = buyer_id
        self.picture_id = picture_id
        self.purchase_id = purchase_id
        """The existing live purchase."""


class PurchaseNotFound(LedgerError):
    """No purchase with that id belongs to that buyer."""


class LedgerConflict(LedgerError):
    """A repeated request disagrees with what was recorded (e.g. a key reused for another
    picture, or a second PaymentIntent for one purchase)."""


class _Retry(Exception):
    """Internal: a race was lost; run the whole transaction again."""


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purchase:
    """One purchase as the ledger holds it. Times are timezone-aware UTC."""

    purchase_id: str
    picture_id: str
    buyer_id: str
    seller_id: str
    amount_cents: int
    currency: str
    status: str
    payment_intent_id: str | None
    client_secret: str | None
    failure_reason: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as RFC 3339 strings); ``client_secret`` only while the
        purchase awaits payment, as the API shows it."""
        data = asdict(self)
        for name in ("created_at", "updated_at", "completed_at"):
            data[name] = _iso(data[name])
        if self.status != "awaiting_payment":
            data["client_secret"] = None
        return data


@dataclass(frozen=True, slots=True)
class Sale:
    """One completed purchase, as its seller sees it."""

    seller_id: str
    purchase_id: str
    picture_id: str
    buyer_id: str
    amount_cents: int
    currency: str
    completed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["completed_at"] = _iso(self.completed_at)
        return data


@dataclass(frozen=True, slots=True)
class SellerTotal:
    """A seller's completed sales in one currency."""

    currency: str
    sales_count: int
    gross_cents: int


@dataclass(frozen=True, slots=True)
class Payment:
    """One Stripe event applied to a purchase (see the ``payments`` table)."""

    event_id: str
    purchase_id: str
    kind: str
    amount_cents: int
    currency: str
    payment_intent_id: str | None
    note: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ShardDsn:
    """Connection parameters parsed from one ``mysql://`` DSN."""

    host: str
    port: int
    user: str
    password: str
    database: str


# -- configuration and routing -----------------------------------------------------------------


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
    """The shard map from the ``MYSQL_SHARDS`` setting: its comma-separated DSNs, in order.

    The order is the shard numbering, so it must never be reordered once data exists. Each
    DSN is validated; two entries naming the same database are refused.
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


def shard_of(user_id: str, shard_count: int) -> int:
    """The shard holding ``user_id``'s purchases (as buyer) and sales (as seller).

    The first 8 bytes of sha256(user_id), big-endian, modulo ``shard_count``: stable across
    processes, machines and Python versions (unlike ``hash()``). This is the one routing
    function; nothing else decides where a user's rows live.
    """
    if shard_count < 1:
        raise ValueError("shard_count must be at least 1")
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


# -- the ledger --------------------------------------------------------------------------------

_PURCHASE_COLUMNS = (
    "purchase_id, picture_id, buyer_id, seller_id, amount_cents, currency, status, "
    "payment_intent_id, client_secret, failure_reason, idempotency_key, created_at, "
    "updated_at, completed_at, sale_recorded"
)


class Ledger:
    """The sharded ledger: one aiomysql pool per shard. Create it with :meth:`open`."""

    def __init__(self, dsns: Sequence[str], pools: Sequence[aiomysql.Pool]) -> None:
        self.dsns: tuple[str, ...] = tuple(dsns)
        self._pools: tuple[aiomysql.Pool, ...] = tuple(pools)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        dsns: Sequence[str] | str,
        *,
        migrate: bool = True,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
    ) -> Ledger:
        """Connect to every shard (a DSN list or a ``MYSQL_SHARDS`` string).

        Creates each shard's database if it is missing and, unless ``migrate`` is false,
        brings its schema up to date. Raises if any shard cannot be reached.
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
        except BaseException:
            await _close_pools(pools)
            raise
        return ledger

    async def close(self) -> None:
        """Close every pool, waiting for connections in use to be returned."""
        await _close_pools(self._pools)

    async def __aenter__(self) -> Ledger:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Run ``SELECT 1`` on every shard; raises if any shard does not answer."""

        async def select_1(cur: aiomysql.Cursor) -> None:
            await cur.execute("SELECT 1")
            await cur.fetchall()

        await asyncio.gather(*(self._run(s, select_1) for s in range(self.shard_count)))

    async def migrate(self, directory: Path = MIGRATIONS_DIR) -> dict[int, list[int]]:
        """Apply the migrations not yet applied on each shard; returns the versions applied
        per shard (empty lists when the schema was already current)."""
        migrations = load_migrations(directory)
        applied = await asyncio.gather(
            *(self._migrate_shard(shard, migrations) for shard in range(self.shard_count))
        )
        return dict(enumerate(applied))

    # -- routing -----------------------------------------------------------------------------

    @property
    def shard_count(self) -> int:
        """How many shards the map lists."""
        return len(self._pools)

    def shard_for(self, user_id: str) -> int:
        """The shard of ``user_id`` under this ledger's shard map (see :func:`shard_of`)."""
        return shard_of(user_id, self.shard_count)

    # -- writes ------------------------------------------------------------------------------

    async def begin_purchase(
        self,
        command_id: str,
        purchase_id: str,
        picture_id: str,
        buyer_id: str,
        seller_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str | None = None,
    ) -> Purchase:
        """Record a new pending purchase on the buyer's shard and return it.

        Idempotent: the same ``command_id``, the same (buyer, ``idempotency_key``) or the same
        ``purchase_id`` returns the purchase already recorded (:class:`LedgerConflict` if the
        repeat names another picture or buyer). Raises :class:`AlreadyOwned` while the buyer
        has a live purchase of the picture (a redelivered command gets the same answer).
        Whether the buyer may buy at all (not their own picture, a published one) is the
        caller's decision: it may record the refusal with :meth:`fail`.
        """
        for name, value in (
            ("command_id", command_id),
            ("purchase_id", purchase_id),
            ("picture_id", picture_id),
            ("buyer_id", buyer_id),
            ("seller_id", seller_id),
        ):
            _check_id(name, value)
        if idempotency_key is not None:
            _check_id("idempotency_key", idempotency_key, _KEY_MAX)
        _check_cents(amount_cents)
        currency = _check_currency(currency)

        async def work(cur: aiomysql.Cursor) -> Purchase | AlreadyOwned:
            now = _now()
            await cur.execute(
                "SELECT purchase_id, result FROM processed_commands WHERE command_id = %s",
                (command_id,),
            )
            done = await cur.fetchone()
            if done is not None:
                return await self._replay_command(cur, done[0], json.loads(done[1]))
            existing = None
            if idempotency_key is not None:
                existing = await _select_purchase(
                    cur, "buyer_id = %s AND idempotency_key = %s", (buyer_id, idempotency_key)
                )
            if existing is None:
                existing = await _select_purchase(cur, "purchase_id = %s", (purchase_id,))
            live = None
            if existing is None:
                live = await _select_purchase(
                    cur, "buyer_id = %s AND live_picture_id = %s", (buyer_id, picture_id)
                )
                if live is not None and (
                    live.purchase_id == purchase_id
                    or (idempotency_key is not None and live.idempotency_key == idempotency_key)
                ):
                    existing = live  # a twin committed between our reads
            if existing is not None:
                if existing.buyer_id != buyer_id or existing.picture_id != picture_id:
                    raise LedgerConflict(
                        f"purchase {existing.purchase_id} (key {idempotency_key!r}) is for "
                        f"picture {existing.picture_id} by {existing.buyer_id}, not "
                        f"{picture_id} by {buyer_id}"
                    )
                await _record_command(cur, command_id, existing.purchase_id, "created", now)
                return existing
            if live is not None:
                await _record_command(cur, command_id, live.purchase_id, "already_owned", now)
                return AlreadyOwned(buyer_id, picture_id, live.purchase_id)
            purchase = Purchase(
                purchase_id=purchase_id,
                picture_id=picture_id,
                buyer_id=buyer_id,
                seller_id=seller_id,
                amount_cents=amount_cents,
                currency=currency,
                status="pending",
                payment_intent_id=None,
                client_secret=None,
                failure_reason=None,
                idempotency_key=idempotency_key,
                created_at=_aware(now),
                updated_at=_aware(now),
            )
            await cur.execute(
                "INSERT INTO purchases (purchase_id, picture_id, buyer_id, seller_id, "
                "amount_cents, currency, status, live_picture_id, idempotency_key, "
                "created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s, %s)",
                (purchase_id, picture_id, buyer_id, seller_id, amount_cents, currency,
                 picture_id, idempotency_key, now, now),
            )
            await _record_command(cur, command_id, purchase_id, "created", now)
            return purchase

        async def work_or_retry(cur: aiomysql.Cursor) -> Purchase | AlreadyOwned:
            try:
                return await work(cur)
            except pymysql.err.IntegrityError as exc:
                if exc.args[0] == _DUPLICATE_KEY:
                    raise _Retry from exc  # a concurrent twin won: replay its result
                raise

        result = await self._run(self.shard_for(buyer_id), work_or_retry)
        if isinstance(result, AlreadyOwned):
            raise result
        return result

    async def attach_payment_intent(
        self, purchase_id: str, buyer_id: str, intent_id: str, client_secret: str
    ) -> Purchase:
        """Link the purchase to its Stripe PaymentIntent: pending becomes awaiting_payment.

        Repeating it with the same intent changes nothing. If the purchase already moved on
        (e.g. the ``payment_intent.succeeded`` webhook overtook this call), its status stays
        and only a missing intent id is filled in. A different intent for the same purchase
        raises :class:`LedgerConflict`: one purchase is paid through one PaymentIntent.
        """
        _check_id("intent_id", intent_id, _KEY_MAX)
        _check_id("client_secret", client_secret, _KEY_MAX)

        async def work(cur: aiomysql.Cursor) -> Purchase:
            purchase, _ = await _lock_purchase(cur, purchase_id, buyer_id)
            if purchase.payment_intent_id not in (None, intent_id):
                raise LedgerConflict(
                    f"purchase {purchase_id} is paid through {purchase.payment_intent_id}, "
                    f"not {intent_id}"
                )
            now = _now()
            if purchase.status == "pending":
                await cur.execute(
                    "UPDATE purchases SET status = 'awaiting_payment', payment_intent_id = %s, "
                    "client_secret = %s, updated_at = %s WHERE purchase_id = %s",
                    (intent_id, client_secret, now, purchase_id),
                )
                return _replace(
                    purchase, status="awaiting_payment", payment_intent_id=intent_id,
                    client_secret=client_secret, updated_at=_aware(now),
                )
            if purchase.payment_intent_id is None:
                await cur.execute(
                    "UPDATE purchases SET payment_intent_id = %s, updated_at = %s "
                    "WHERE purchase_id = %s",
                    (intent_id, now, purchase_id),
                )
                return _replace(purchase, payment_intent_id=intent_id, updated_at=_aware(now))
            return purchase

        try:
            return await self._run(self.shard_for(buyer_id), work)
        except pymysql.err.IntegrityError as exc:
            if exc.args[0] == _DUPLICATE_KEY:
                raise LedgerConflict(f"intent {intent_id} belongs to another purchase") from exc
            raise

    async def complete(
        self,
        purchase_id: str,
        buyer_id: str,
        stripe_event_id: str,
        *,
        amount_cents: int | None = None,
        payment_intent_id: str | None = None,
    ) -> bool:
        """Apply Stripe's ``payment_intent.succeeded`` event: payment, completion, licence, sale.

        Returns True if this call completed the purchase. A second delivery of the same event
        returns False and changes nothing (but finishes a sale left unrecorded by a crash, see
        the module docstring). Because a call that crashed after committing is retried as a
        redelivery, callers should announce completion from the purchase's state (with an
        event id derived from the cause), not only when this returns True.

        ``amount_cents`` and ``payment_intent_id``, when given (from the Stripe event), are
        checked against the purchase. Money that cannot be applied — a wrong amount, another
        PaymentIntent than the purchase's, or a payment after the purchase failed while the
        buyer meanwhile holds another live purchase of the picture — is recorded as an
        ``unapplied`` payment (refund due, see :meth:`unapplied_payments`), grants nothing,
        and returns False. A payment that arrives after a failure event (Stripe does not order
        events, and a PaymentIntent may succeed after a failed attempt) revives the purchase.
        """
        _check_id("stripe_event_id", stripe_event_id, _KEY_MAX)
        if amount_cents is not None:
            _check_cents(amount_cents)
        buyer_shard = self.shard_for(buyer_id)
        attempted = False  # this call already tried to apply the payment (before a retry)

        async def work(cur: aiomysql.Cursor) -> tuple[bool, Purchase, bool]:
            nonlocal attempted
            purchase, sale_recorded = await _lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_event_id):
                # After a lost connection during COMMIT, the retry finds this call's own
                # payment: it did complete the purchase, so say so.
                return attempted and purchase.status == "completed", purchase, sale_recorded
            now = _now()
            intent = payment_intent_id or purchase.payment_intent_id
            problem = None
            if amount_cents is not None and amount_cents != purchase.amount_cents:
                problem = f"amount {amount_cents} differs from the price {purchase.amount_cents}"
            elif purchase.payment_intent_id not in (None, intent):
                problem = f"intent {intent} is not the purchase's {purchase.payment_intent_id}"
            elif purchase.status in ("completed", "refunded"):
                # The same money (same or unnamed intent) announced again under a new event id.
                return False, purchase, sale_recorded
            received = purchase.amount_cents if amount_cents is None else amount_cents
            if problem is None and purchase.status == "failed" and await _has_payment(
                    cur, purchase_id, "expired"):
                # Its PaymentIntent was cancelled when the deadline passed, so this should
                # not happen at Stripe; if it does, the buyer was told it failed: give back.
                problem = "paid after the purchase expired"
            if problem is None and purchase.status == "failed":
                try:
                    await cur.execute(
                        "UPDATE purchases SET status = 'completed', live_picture_id = picture_id "
                        "WHERE purchase_id = %s",
                        (purchase_id,),
                    )
                except pymysql.err.IntegrityError as exc:
                    if exc.args[0] != _DUPLICATE_KEY:
                        raise
                    problem = "paid after it failed, and the buyer has another live purchase"
            if problem is not None:
                await _insert_payment(
                    cur, stripe_event_id, purchase, "unapplied", received, intent, problem, now
                )
                log.warning(
                    "ledger.payment_unapplied", purchase_id=purchase_id, event_id=stripe_event_id,
                    reason=problem,
                )
                return False, purchase, sale_recorded
            same_shard = self.shard_for(purchase.seller_id) == buyer_shard
            attempted = True
            await _insert_payment(
                cur, stripe_event_id, purchase, "succeeded", received, intent, None, now
            )
            await cur.execute(
                "UPDATE purchases SET status = 'completed', live_picture_id = picture_id, "
                "payment_intent_id = %s, client_secret = NULL, failure_reason = NULL, "
                "completed_at = %s, updated_at = %s, sale_recorded = %s WHERE purchase_id = %s",
                (intent, now, now, same_shard, purchase_id),
            )
            await cur.execute(
                "INSERT INTO licences (buyer_id, picture_id, purchase_id, granted_at) "
                "VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE granted_at = granted_at",
                (buyer_id, purchase.picture_id, purchase_id, now),
            )
            completed = _replace(
                purchase, status="completed", payment_intent_id=intent, client_secret=None,
                failure_reason=None, completed_at=_aware(now), updated_at=_aware(now),
            )
            if same_shard:
                await _insert_sale(cur, completed)
            return True, completed, same_shard

        completed_now, purchase, sale_recorded = await self._run(buyer_shard, work)
        if purchase.status == "completed" and not sale_recorded:
            await self._record_sale(purchase)
        return completed_now

    async def fail(
        self,
        purchase_id: str,
        buyer_id: str,
        reason: str,
        stripe_event_id: str | None = None,
    ) -> bool:
        """Mark a purchase that still awaits payment as failed, with ``reason``.

        ``stripe_event_id`` (from ``payment_intent.payment_failed``) is recorded so that a
        redelivery changes nothing; give None for failures that come from no Stripe event.
        Returns True if this call failed the purchase; a completed purchase stays completed (a
        late failure event for an earlier attempt). Failing frees the buyer to buy the picture
        again.
        """
        if stripe_event_id is not None:
            _check_id("stripe_event_id", stripe_event_id, _KEY_MAX)
        reason = (reason or "failed")[:_REASON_MAX]

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await _lock_purchase(cur, purchase_id, buyer_id)
            now = _now()
            if stripe_event_id is not None:
                if await _event_seen(cur, stripe_event_id):
                    return False
                await _insert_payment(
                    cur, stripe_event_id, purchase, "failed", 0, purchase.payment_intent_id,
                    reason, now,
                )
            if purchase.status not in OPEN_STATUSES:
                return False
            await cur.execute(
                "UPDATE purchases SET status = 'failed', live_picture_id = NULL, "
                "failure_reason = %s, client_secret = NULL, updated_at = %s "
                "WHERE purchase_id = %s",
                (reason, now, purchase_id),
            )
            return True

        return await self._run(self.shard_for(buyer_id), work)

    async def expire(self, purchase_id: str, buyer_id: str, reason: str) -> bool:
        """Fail a purchase whose payment did not arrive in time, if it still awaits payment.

        Conditional under the row lock, so several workers expiring the same purchase fail it
        once: only the call that did returns True. The ``expired`` payments row marks it, so
        that money arriving later is recorded as a refund due (see :meth:`complete`). The
        caller cancels the PaymentIntent at Stripe first.
        """
        reason = (reason or "expired")[:_REASON_MAX]

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await _lock_purchase(cur, purchase_id, buyer_id)
            if purchase.status != "awaiting_payment":
                return False
            now = _now()
            await _insert_payment(cur, f"expired-{purchase_id}", purchase, "expired", 0,
                                  purchase.payment_intent_id, reason, now)
            await cur.execute(
                "UPDATE purchases SET status = 'failed', live_picture_id = NULL, "
                "failure_reason = %s, client_secret = NULL, updated_at = %s "
                "WHERE purchase_id = %s",
                (reason, now, purchase_id),
            )
            return True

        return await self._run(self.shard_for(buyer_id), work)

    async def request_refund(self, purchase_id: str, buyer_id: str) -> None:
        """Note that the seller asked for this purchase's refund (once; repeats are no-ops),
        so the refund is told as the seller's whichever Stripe fact applies it first."""

        async def work(cur: aiomysql.Cursor) -> None:
            purchase, _ = await _lock_purchase(cur, purchase_id, buyer_id)
            event_id = f"refund-requested-{purchase_id}"
            if not await _event_seen(cur, event_id):
                await _insert_payment(cur, event_id, purchase, "refund_requested", 0,
                                      purchase.payment_intent_id, None, _now())

        await self._run(self.shard_for(buyer_id), work)

    async def refund(
        self,
        purchase_id: str,
        buyer_id: str,
        stripe_id: str,
        amount_refunded_cents: int,
        reason: str,
    ) -> bool:
        """Apply money that went back to the buyer: the purchase becomes ``refunded``, the
        licence goes, the sale leaves the seller's list and totals. Returns True if this call
        did it.

        ``stripe_id`` is the Stripe event id (``charge.refunded``, a lost dispute) or the
        Refund object's id (a refund Picasso created and Stripe reported succeeded); a
        repeat of it changes nothing, and a second fact about the same refund (the webhook
        after the Refund object, or the other way round) finds the purchase refunded and
        changes nothing either. ``amount_refunded_cents`` is the charge's total refunded so
        far: less than the price is recorded as ``refund_partial`` and withdraws nothing.
        Money back for a purchase that never completed (a refund due) is recorded as
        ``refund_unapplied``. ``reason`` (refunded_at_stripe, refunded_by_seller,
        dispute_lost) becomes refunded_by_seller when the seller had asked for it.

        Across two shards the sale is removed as :meth:`complete` adds it: buyer's side
        first, then the seller's, with the ``sale_recorded`` flag as the outbox.
        """
        _check_id("stripe_id", stripe_id, _KEY_MAX)
        _check_cents(amount_refunded_cents)
        buyer_shard = self.shard_for(buyer_id)

        async def work(cur: aiomysql.Cursor) -> tuple[bool, Purchase, bool]:
            purchase, sale_recorded = await _lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_id) or purchase.status == "refunded":
                return False, purchase, sale_recorded
            now = _now()
            intent = purchase.payment_intent_id
            if purchase.status != "completed":
                await _insert_payment(cur, stripe_id, purchase, "refund_unapplied",
                                      amount_refunded_cents, intent,
                                      f"{reason} while {purchase.status}", now)
                return False, purchase, sale_recorded
            if amount_refunded_cents < purchase.amount_cents:
                await _insert_payment(
                    cur, stripe_id, purchase, "refund_partial", amount_refunded_cents, intent,
                    f"{amount_refunded_cents} of {purchase.amount_cents} refunded; the "
                    "licence stays", now)
                return False, purchase, sale_recorded
            told = reason
            if told == "refunded_at_stripe" and await _has_payment(
                    cur, purchase_id, "refund_requested"):
                told = "refunded_by_seller"
            same_shard = self.shard_for(purchase.seller_id) == buyer_shard
            await _insert_payment(cur, stripe_id, purchase, "refunded", amount_refunded_cents,
                                  intent, told, now)
            await cur.execute(
                "UPDATE purchases SET status = 'refunded', live_picture_id = NULL, "
                "updated_at = %s, sale_recorded = %s WHERE purchase_id = %s",
                (now, same_shard, purchase_id),
            )
            await cur.execute(
                "DELETE FROM licences WHERE buyer_id = %s AND picture_id = %s "
                "AND purchase_id = %s",
                (buyer_id, purchase.picture_id, purchase_id),
            )
            refunded = _replace(purchase, status="refunded", updated_at=_aware(now))
            if same_shard:
                await _delete_sale(cur, refunded)
            return True, refunded, same_shard

        refunded_now, purchase, sale_recorded = await self._run(buyer_shard, work)
        if purchase.status == "refunded" and not sale_recorded:
            await self._unrecord_sale(purchase)
        return refunded_now

    async def record_dispute(
        self, purchase_id: str, buyer_id: str, stripe_event_id: str, state: str,
        amount_cents: int, note: str,
    ) -> bool:
        """Record a dispute's opening or closing (``state``); True the first time this event
        is recorded. What a lost dispute means is the caller's: :meth:`refund`."""
        _check_id("stripe_event_id", stripe_event_id, _KEY_MAX)
        _check_cents(amount_cents)
        if state not in ("opened", "closed"):
            raise ValueError(f"a dispute is opened or closed, not {state!r}")

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await _lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_event_id):
                return False
            await _insert_payment(cur, stripe_event_id, purchase, f"dispute_{state}",
                                  amount_cents, purchase.payment_intent_id, note, _now())
            return True

        return await self._run(self.shard_for(buyer_id), work)

    async def reconcile_sales(self, limit: int = 1000) -> int:
        """Write the sales that a crash between the two shards' transactions left unrecorded
        (completed purchases whose ``sale_recorded`` is still false) and remove the sales of
        refunded ones likewise left behind; returns how many were repaired. Safe to run at
        any time, from any number of workers."""
        repaired = 0
        for shard in range(self.shard_count):

            async def pending(cur: aiomysql.Cursor) -> list[Purchase]:
                await cur.execute(
                    f"SELECT {_PURCHASE_COLUMNS} FROM purchases "
                    "WHERE sale_recorded = FALSE AND status IN ('completed', 'refunded') "
                    "LIMIT %s",
                    (limit,),
                )
                return [_purchase(row) for row in await cur.fetchall()]

            for purchase in await self._run(shard, pending):
                if purchase.status == "completed":
                    await self._record_sale(purchase)
                else:
                    await self._unrecord_sale(purchase)
                repaired += 1
        return repaired

    # -- reads -------------------------------------------------------------------------------

    async def get(self, purchase_id: str, buyer_id: str) -> Purchase | None:
        """The buyer's purchase with that id, or None (also when it belongs to someone else)."""

        async def work(cur: aiomysql.Cursor) -> Purchase | None:
            return await _select_purchase(
                cur, "purchase_id = %s AND buyer_id = %s", (purchase_id, buyer_id)
            )

        return await self._run(self.shard_for(buyer_id), work)

    async def find(self, purchase_id: str) -> Purchase | None:
        """The purchase with that id on whichever shard holds it, asking every shard.

        Only for a caller that does not know the buyer (a webhook whose PaymentIntent lacks the
        ``buyer_id`` metadata): put ``buyer_id`` into the intent's metadata and use :meth:`get`.
        """

        async def work(cur: aiomysql.Cursor) -> Purchase | None:
            return await _select_purchase(cur, "purchase_id = %s", (purchase_id,))

        found = await asyncio.gather(*(self._run(s, work) for s in range(self.shard_count)))
        return next((purchase for purchase in found if purchase is not None), None)

    async def find_by_intent(self, payment_intent_id: str) -> Purchase | None:
        """The purchase paid through that PaymentIntent, asking every shard.

        For Stripe's charge and dispute webhooks, whose objects need not carry the intent's
        metadata; rare enough that a scatter over the shards is fine."""

        async def work(cur: aiomysql.Cursor) -> Purchase | None:
            return await _select_purchase(cur, "payment_intent_id = %s", (payment_intent_id,))

        found = await asyncio.gather(*(self._run(s, work) for s in range(self.shard_count)))
        return next((purchase for purchase in found if purchase is not None), None)

    async def overdue(self, older_than_s: float, limit: int = 100) -> list[Purchase]:
        """Purchases awaiting payment for more than ``older_than_s`` seconds (since their
        PaymentIntent was attached), oldest first, from every shard."""
        cutoff = _naive(datetime.now(UTC)) - timedelta(seconds=older_than_s)

        async def work(cur: aiomysql.Cursor) -> list[Purchase]:
            await cur.execute(
                f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE status = 'awaiting_payment' "
                "AND updated_at < %s ORDER BY updated_at LIMIT %s",
                (cutoff, _check_limit(limit)),
            )
            return [_purchase(row) for row in await cur.fetchall()]

        found = await asyncio.gather(*(self._run(s, work) for s in range(self.shard_count)))
        return sorted((p for part in found for p in part), key=lambda p: p.updated_at)[:limit]

    async def purchases_of(self, buyer_id: str, limit: int = 50) -> list[Purchase]:
        """The buyer's purchases, newest first, from the buyer's shard alone."""

        async def work(cur: aiomysql.Cursor) -> list[Purchase]:
            await cur.execute(
                f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE buyer_id = %s "
                "ORDER BY created_at DESC, purchase_id DESC LIMIT %s",
                (buyer_id, _check_limit(limit)),
            )
            return [_purchase(row) for row in await cur.fetchall()]

        return await self._run(self.shard_for(buyer_id), work)

    async def sales_of(
        self, seller_id: str, limit: int = 50
    ) -> tuple[list[Sale], list[SellerTotal]]:
        """The seller's sales (newest first) and totals per currency, from the seller's shard
        alone: both are materialized there when purchases complete."""

        async def work(cur: aiomysql.Cursor) -> tuple[list[Sale], list[SellerTotal]]:
            await cur.execute(
                "SELECT seller_id, purchase_id, picture_id, buyer_id, amount_cents, currency, "
                "completed_at FROM sales WHERE seller_id = %s "
                "ORDER BY completed_at DESC, purchase_id DESC LIMIT %s",
                (seller_id, _check_limit(limit)),
            )
            sales = [
                Sale(r[0], r[1], r[2], r[3], int(r[4]), r[5], _aware(r[6]))
                for r in await cur.fetchall()
            ]
            await cur.execute(
                "SELECT currency, sales_count, gross_cents FROM seller_totals "
                "WHERE seller_id = %s ORDER BY currency",
                (seller_id,),
            )
            totals = [SellerTotal(r[0], int(r[1]), int(r[2])) for r in await cur.fetchall()]
            return sales, totals

        return await self._run(self.shard_for(seller_id), work)

    async def has_licence(self, buyer_id: str, picture_id: str) -> bool:
        """Whether the buyer may download the picture's original (a completed purchase)."""
        return picture_id in await self.licensed(buyer_id, [picture_id])

    async def licensed(self, buyer_id: str, picture_ids: Sequence[str]) -> set[str]:
        """Which of ``picture_ids`` the buyer holds a licence for: one query on one shard.

        The feed asks this for a whole page at once (``purchased_by_me``)."""
        if not picture_ids:
            return set()
        ids = list(dict.fromkeys(picture_ids))
        marks = ", ".join(["%s"] * len(ids))

        async def work(cur: aiomysql.Cursor) -> set[str]:
            await cur.execute(
                f"SELECT picture_id FROM licences WHERE buyer_id = %s AND picture_id IN ({marks})",
                (buyer_id, *ids),
            )
            return {row[0] for row in await cur.fetchall()}

        return await self._run(self.shard_for(buyer_id), work)

    async def payments_of(self, purchase_id: str, buyer_id: str) -> list[Payment]:
        """The Stripe events recorded for a purchase, oldest first."""

        async def work(cur: aiomysql.Cursor) -> list[Payment]:
            await cur.execute(
                "SELECT p.event_id, p.purchase_id, p.kind, p.amount_cents, p.currency, "
                "p.payment_intent_id, p.note, p.received_at FROM payments p "
                "JOIN purchases u ON u.purchase_id = p.purchase_id "
                "WHERE p.purchase_id = %s AND u.buyer_id = %s ORDER BY p.received_at, p.event_id",
                (purchase_id, buyer_id),
            )
            return [_payment(row) for row in await cur.fetchall()]

        return await self._run(self.shard_for(buyer_id), work)

    async def unapplied_payments(self, limit: int = 100) -> list[Payment]:
        """Money received that the ledger did not apply (refunds due), from every shard.

        An operator's and a refund job's query, not a request path."""

        async def work(cur: aiomysql.Cursor) -> list[Payment]:
            await cur.execute(
                "SELECT event_id, purchase_id, kind, amount_cents, currency, payment_intent_id, "
                "note, received_at FROM payments WHERE kind = 'unapplied' "
                "ORDER BY received_at LIMIT %s",
                (_check_limit(limit),),
            )
            return [_payment(row) for row in await cur.fetchall()]

        found = await asyncio.gather(*(self._run(s, work) for s in range(self.shard_count)))
        return sorted((p for part in found for p in part), key=lambda p: p.received_at)[:limit]

    # -- internals ---------------------------------------------------------------------------

    async def _replay_command(
        self, cur: aiomysql.Cursor, purchase_id: str | None, result: dict[str, Any]
    ) -> Purchase | AlreadyOwned:
        """The answer a processed command gave the first time, given again."""
        purchase = None
        if purchase_id is not None:
            purchase = await _select_purchase(cur, "purchase_id = %s", (purchase_id,))
        if purchase is None:
            raise LedgerError(f"processed command points at missing purchase {purchase_id}")
        if result.get("outcome") == "already_owned":
            return AlreadyOwned(purchase.buyer_id, purchase.picture_id, purchase.purchase_id)
        return purchase

    async def _record_sale(self, purchase: Purchase) -> None:
        """Second step of a cross-shard completion: the sale on the seller's shard, then the
        outbox flag on the buyer's. Both steps are idempotent."""

        async def on_seller_shard(cur: aiomysql.Cursor) -> None:
            await _insert_sale(cur, purchase)

        async def flag(cur: aiomysql.Cursor) -> str:
            current, _ = await _lock_purchase(cur, purchase.purchase_id, purchase.buyer_id)
            if current.status == "completed":
                await cur.execute(
                    "UPDATE purchases SET sale_recorded = TRUE WHERE purchase_id = %s",
                    (purchase.purchase_id,),
                )
            return current.status

        await self._run(self.shard_for(purchase.seller_id), on_seller_shard)
        if await self._run(self.shard_for(purchase.buyer_id), flag) == "refunded":
            # Refunded while this sale was being written: the refund's own removal may have
            # run before the insert, so remove it again (exactly once, see _delete_sale).
            await self._unrecord_sale(purchase)

    async def _unrecord_sale(self, purchase: Purchase) -> None:
        """Second step of a cross-shard refund: the sale off the seller's shard, then the
        outbox flag on the buyer's. Both steps are idempotent."""

        async def on_seller_shard(cur: aiomysql.Cursor) -> None:
            await _delete_sale(cur, purchase)

        async def flag(cur: aiomysql.Cursor) -> None:
            await cur.execute(
                "UPDATE purchases SET sale_recorded = TRUE WHERE purchase_id = %s "
                "AND status = 'refunded'",
                (purchase.purchase_id,),
            )

        await self._run(self.shard_for(purchase.seller_id), on_seller_shard)
        await self._run(self.shard_for(purchase.buyer_id), flag)

    async def _migrate_shard(self, shard: int, migrations: list[Migration]) -> list[int]:
        pool = self._pools[shard]
        database = parse_dsn(self.dsns[shard]).database
        lock_name = f"picasso.migrations.{database}"[:64]
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT GET_LOCK(%s, %s)", (lock_name, _MIGRATION_LOCK_SECONDS))
            (locked,) = await cur.fetchone()
            await conn.commit()
            if locked != 1:
                raise LedgerError(f"shard {shard}: another process holds the migration lock")
            try:
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
                            (migration.version, migration.name, migration.checksum, _now()),
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
            finally:
                await cur.execute("SELECT RELEASE_LOCK(%s)", (lock_name,))
                await cur.fetchall()
                await conn.commit()

    async def _run(self, shard: int, work: Callable[[aiomysql.Cursor], Awaitable[T]]) -> T:
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
            except _Retry:
                if last:
                    raise LedgerError("gave up after losing the same race repeatedly") from None
            except pymysql.err.OperationalError as exc:
                if last or exc.args[0] not in MYSQL_TRANSIENT_CODES:
                    raise
                log.info("ledger.retry", shard=shard, error=exc.args[0], attempt=attempt + 1)
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


# -- migrations --------------------------------------------------------------------------------


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


# -- helpers -----------------------------------------------------------------------------------


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


async def _select_purchase(
    cur: aiomysql.Cursor, where: str, args: tuple[Any, ...]
) -> Purchase | None:
    await cur.execute(f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE {where}", args)
    row = await cur.fetchone()
    return None if row is None else _purchase(row)


async def _lock_purchase(
    cur: aiomysql.Cursor, purchase_id: str, buyer_id: str
) -> tuple[Purchase, bool]:
    """The buyer's purchase, locked until the transaction ends, and its ``sale_recorded``."""
    await cur.execute(
        f"SELECT {_PURCHASE_COLUMNS} FROM purchases WHERE purchase_id = %s AND buyer_id = %s "
        "FOR UPDATE",
        (purchase_id, buyer_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise PurchaseNotFound(f"no purchase {purchase_id} of buyer {buyer_id}")
    return _purchase(row), bool(row[14])


async def _event_seen(cur: aiomysql.Cursor, event_id: str) -> bool:
    # Called with the purchase row locked, and READ COMMITTED reads the latest commit, so a
    # concurrent delivery of the same event is seen once its twin commits.
    await cur.execute("SELECT 1 FROM payments WHERE event_id = %s", (event_id,))
    return await cur.fetchone() is not None


async def _has_payment(cur: aiomysql.Cursor, purchase_id: str, kind: str) -> bool:
    await cur.execute(
        "SELECT 1 FROM payments WHERE purchase_id = %s AND kind = %s LIMIT 1", (purchase_id, kind)
    )
    return await cur.fetchone() is not None


async def _insert_payment(
    cur: aiomysql.Cursor,
    event_id: str,
    purchase: Purchase,
    kind: str,
    amount_cents: int,
    intent_id: str | None,
    note: str | None,
    now: datetime,
) -> None:
    try:
        await cur.execute(
            "INSERT INTO payments (event_id, purchase_id, kind, amount_cents, currency, "
            "payment_intent_id, note, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (event_id, purchase.purchase_id, kind, amount_cents, purchase.currency, intent_id,
             note[:_REASON_MAX] if note else None, now),
        )
    except pymysql.err.IntegrityError as exc:
        if exc.args[0] == _DUPLICATE_KEY:
            raise LedgerConflict(f"event {event_id} was applied to another purchase") from exc
        raise


async def _insert_sale(cur: aiomysql.Cursor, purchase: Purchase) -> None:
    """The sale row and the seller's totals, once: the sale's primary key guards the totals."""
    completed_at = _naive(purchase.completed_at or purchase.updated_at)
    try:
        await cur.execute(
            "INSERT INTO sales (seller_id, purchase_id, picture_id, buyer_id, amount_cents, "
            "currency, completed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (purchase.seller_id, purchase.purchase_id, purchase.picture_id, purchase.buyer_id,
             purchase.amount_cents, purchase.currency, completed_at),
        )
    except pymysql.err.IntegrityError as exc:
        if exc.args[0] == _DUPLICATE_KEY:
            return  # already recorded (a repair or a redelivery): totals already counted it
        raise
    await cur.execute(
        "INSERT INTO seller_totals (seller_id, currency, sales_count, gross_cents, updated_at) "
        "VALUES (%s, %s, 1, %s, %s) ON DUPLICATE KEY UPDATE sales_count = sales_count + 1, "
        "gross_cents = gross_cents + %s, updated_at = %s",
        (purchase.seller_id, purchase.currency, purchase.amount_cents, completed_at,
         purchase.amount_cents, completed_at),
    )


async def _delete_sale(cur: aiomysql.Cursor, purchase: Purchase) -> None:
    """The sale row and its share of the seller's totals, removed once: only the DELETE that
    finds the row takes its amount off the totals."""
    await cur.execute(
        "DELETE FROM sales WHERE seller_id = %s AND purchase_id = %s",
        (purchase.seller_id, purchase.purchase_id),
    )
    if cur.rowcount != 1:
        return  # never recorded, or removed already
    await cur.execute(
        "UPDATE seller_totals SET sales_count = sales_count - 1, "
        "gross_cents = gross_cents - %s, updated_at = %s WHERE seller_id = %s AND currency = %s",
        (purchase.amount_cents, _now(), purchase.seller_id, purchase.currency),
    )


async def _record_command(
    cur: aiomysql.Cursor, command_id: str, purchase_id: str, outcome: str, now: datetime
) -> None:
    await cur.execute(
        "INSERT INTO processed_commands (command_id, purchase_id, result, processed_at) "
        "VALUES (%s, %s, %s, %s)",
        (command_id, purchase_id, json.dumps({"outcome": outcome}), now),
    )


def _purchase(row: Sequence[Any]) -> Purchase:
    return Purchase(
        purchase_id=row[0],
        picture_id=row[1],
        buyer_id=row[2],
        seller_id=row[3],
        amount_cents=int(row[4]),
        currency=row[5],
        status=row[6],
        payment_intent_id=row[7],
        client_secret=row[8],
        failure_reason=row[9],
        idempotency_key=row[10],
        created_at=_aware(row[11]),
        updated_at=_aware(row[12]),
        completed_at=None if row[13] is None else _aware(row[13]),
    )


def _payment(row: Sequence[Any]) -> Payment:
    return Payment(
        event_id=row[0],
        purchase_id=row[1],
        kind=row[2],
        amount_cents=int(row[3]),
        currency=row[4],
        payment_intent_id=row[5],
        note=row[6],
        received_at=_aware(row[7]),
    )


def _replace(purchase: Purchase, **changes: Any) -> Purchase:
    return dataclasses.replace(purchase, **changes)


def _now() -> datetime:
    """Now in UTC, naive and cut to milliseconds, as DATETIME(3) stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000, tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _check_id(name: str, value: object, max_length: int = _ID_MAX) -> None:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValueError(f"{name} must be a non-empty string of at most {max_length} characters")


def _check_cents(value: object) -> None:
    # bool is an int subclass, and a float or Decimal is not an amount of cents.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"amounts are integer cents, not {type(value).__name__}")
    if value < 0:
        raise ValueError("an amount cannot be negative")


def _check_currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.lower()):
        raise ValueError(f"currency must be a three-letter ISO 4217 code, not {value!r}")
    return value.lower()


def _check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ValueError("limit must be an integer from 1 to 1000")
    return limit


# -- command line ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m agents.purchases.ledger migrate [--shards DSN,DSN]``: create the shards'
    databases and apply pending migrations (shards from ``MYSQL_SHARDS`` by default)."""
    parser = argparse.ArgumentParser(prog="python -m agents.purchases.ledger")
    parser.add_argument("command", choices=["migrate"])
    parser.add_argument(
        "--shards", default=os.environ.get("MYSQL_SHARDS", ""),
        help="comma-separated mysql:// DSNs (default: $MYSQL_SHARDS)",
    )
    args = parser.parse_args(argv)
    if not args.shards:
        parser.error("no shards: set MYSQL_SHARDS or pass --shards")

    async def run() -> dict[int, list[int]]:
        ledger = await Ledger.open(args.shards, migrate=False)
        try:
            return await ledger.migrate()
        finally:
            await ledger.close()

    for shard, versions in asyncio.run(run()).items():
        done = ", ".join(str(v) for v in versions) or "nothing (up to date)"
        print(f"shard {shard}: applied {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
