"""Reads: one purchase, a buyer's purchases and licences, a seller's sales, and the few
operator queries that ask every shard. Also the row mapping shared with the writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomysql

from agents.purchases.ledger.records import (
    Payment,
    Purchase,
    PurchaseNotFound,
    Sale,
    SellerTotal,
    aware,
    check_limit,
    naive,
)
from agents.purchases.ledger.shards import ShardPools

PURCHASE_COLUMNS = (
    "purchase_id, picture_id, buyer_id, seller_id, amount_cents, currency, status, "
    "payment_intent_id, client_secret, failure_reason, idempotency_key, created_at, "
    "updated_at, completed_at, sale_recorded"
)
SETTLED = "bucket IN (SELECT bucket FROM ledger_buckets WHERE state = 'owned')"
"""A purchases row whose bucket this shard owns, with no move under way."""
_PAYMENT_COLUMNS = (
    "event_id, purchase_id, kind, amount_cents, currency, payment_intent_id, note, received_at"
)


class PurchaseQueries(ShardPools):
    """The ledger's reads. A user's rows are read on the shard owning the user's bucket. The
    periodic jobs' reads over every shard (overdue, unapplied payments, the sales repair)
    see only buckets a shard owns and no move holds (:data:`SETTLED`): a moving bucket's rows
    exist on two shards for a moment, and its source's copy may be stale; the next run sees
    them where they landed."""

    async def get(self, purchase_id: str, buyer_id: str) -> Purchase | None:
        """The buyer's purchase with that id, or None (also when it belongs to someone else)."""

        async def work(cur: aiomysql.Cursor) -> Purchase | None:
            return await select_purchase(
                cur, "purchase_id = %s AND buyer_id = %s", (purchase_id, buyer_id)
            )

        return await self._run_for(buyer_id, work)

    async def find(self, purchase_id: str) -> Purchase | None:
        """The purchase with that id on whichever shard holds it, asking every shard.

        Only for a caller that does not know the buyer (a webhook whose PaymentIntent lacks the
        ``buyer_id`` metadata): put ``buyer_id`` into the intent's metadata and use :meth:`get`.
        """
        return await self._find_anywhere("purchase_id = %s", purchase_id)

    async def find_by_intent(self, payment_intent_id: str) -> Purchase | None:
        """The purchase paid through that PaymentIntent, asking every shard.

        For Stripe's charge and dispute webhooks, whose objects need not carry the intent's
        metadata; rare enough that a scatter over the shards is fine."""
        return await self._find_anywhere("payment_intent_id = %s", payment_intent_id)

    async def overdue(self, older_than_s: float, limit: int = 100) -> list[Purchase]:
        """Purchases awaiting payment for more than ``older_than_s`` seconds (since their
        PaymentIntent was attached), oldest first, from every shard."""
        cutoff = naive(datetime.now(UTC)) - timedelta(seconds=older_than_s)

        async def work(cur: aiomysql.Cursor) -> list[Purchase]:
            return await select_purchases(
                cur, f"status = 'awaiting_payment' AND updated_at < %s AND {SETTLED} "
                "ORDER BY updated_at LIMIT %s", (cutoff, check_limit(limit)),
            )

        found = await self._scatter(work)
        return sorted((p for part in found for p in part), key=lambda p: p.updated_at)[:limit]

    async def purchases_of(self, buyer_id: str, limit: int = 50) -> list[Purchase]:
        """The buyer's purchases, newest first, from the buyer's shard alone."""

        async def work(cur: aiomysql.Cursor) -> list[Purchase]:
            return await select_purchases(
                cur, "buyer_id = %s ORDER BY created_at DESC, purchase_id DESC LIMIT %s",
                (buyer_id, check_limit(limit)),
            )

        return await self._run_for(buyer_id, work)

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
                (seller_id, check_limit(limit)),
            )
            sales = [
                Sale(r[0], r[1], r[2], r[3], int(r[4]), r[5], aware(r[6]))
                for r in await cur.fetchall()
            ]
            await cur.execute(
                "SELECT currency, sales_count, gross_cents FROM seller_totals "
                "WHERE seller_id = %s ORDER BY currency",
                (seller_id,),
            )
            totals = [SellerTotal(r[0], int(r[1]), int(r[2])) for r in await cur.fetchall()]
            return sales, totals

        return await self._run_for(seller_id, work)

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

        return await self._run_for(buyer_id, work)

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
            return [payment_of_row(row) for row in await cur.fetchall()]

        return await self._run_for(buyer_id, work)

    async def unapplied_payments(self, limit: int = 100) -> list[Payment]:
        """Money received that the ledger did not apply (refunds due), from every shard.

        An operator's and a refund job's query, not a request path."""

        async def work(cur: aiomysql.Cursor) -> list[Payment]:
            await cur.execute(
                f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE kind = 'unapplied' "
                f"AND purchase_id IN (SELECT purchase_id FROM purchases WHERE {SETTLED}) "
                "ORDER BY received_at LIMIT %s",
                (check_limit(limit),),
            )
            return [payment_of_row(row) for row in await cur.fetchall()]

        found = await self._scatter(work)
        return sorted((p for part in found for p in part), key=lambda p: p.received_at)[:limit]

    async def _find_anywhere(self, where: str, value: str) -> Purchase | None:
        """The one purchase matching ``where`` on any shard, read again from its buyer's shard
        (a copy seen on a move's source may be older than the target's). Asks every shard a
        second time before answering None: a move may have carried the row from a shard not
        yet asked to one already asked."""

        async def work(cur: aiomysql.Cursor) -> Purchase | None:
            return await select_purchase(cur, where, (value,))

        for _ in range(2):
            found = next((p for p in await self._scatter(work) if p is not None), None)
            if found is not None:
                return await self.get(found.purchase_id, found.buyer_id) or found
        return None


async def select_purchase(
    cur: aiomysql.Cursor, where: str, args: tuple[Any, ...]
) -> Purchase | None:
    await cur.execute(f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE {where}", args)
    row = await cur.fetchone()
    return None if row is None else purchase_of_row(row)


async def select_purchases(
    cur: aiomysql.Cursor, where: str, args: tuple[Any, ...]
) -> list[Purchase]:
    await cur.execute(f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE {where}", args)
    return [purchase_of_row(row) for row in await cur.fetchall()]


async def lock_purchase(
    cur: aiomysql.Cursor, purchase_id: str, buyer_id: str
) -> tuple[Purchase, bool]:
    """The buyer's purchase, locked until the transaction ends, and its ``sale_recorded``."""
    await cur.execute(
        f"SELECT {PURCHASE_COLUMNS} FROM purchases WHERE purchase_id = %s AND buyer_id = %s "
        "FOR UPDATE",
        (purchase_id, buyer_id),
    )
    row = await cur.fetchone()
    if row is None:
        raise PurchaseNotFound(f"no purchase {purchase_id} of buyer {buyer_id}")
    return purchase_of_row(row), bool(row[14])


def purchase_of_row(row: Sequence[Any]) -> Purchase:
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
        created_at=aware(row[11]),
        updated_at=aware(row[12]),
        completed_at=None if row[13] is None else aware(row[13]),
    )


def payment_of_row(row: Sequence[Any]) -> Payment:
    """A Payment from the columns of ``_PAYMENT_COLUMNS``, in order."""
    return Payment(row[0], row[1], row[2], int(row[3]), row[4], row[5], row[6], aware(row[7]))
