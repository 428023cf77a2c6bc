"""The purchase state machine: every write of the ledger, one transition each.

    pending --attach_payment_intent--> awaiting_payment
    pending | awaiting_payment --complete--> completed  (payment, licence, sale)
    pending | awaiting_payment --fail / expire--> failed
    failed --complete (a late payment, not after expiry)--> completed
    completed --refund (in full)--> refunded  (licence and sale withdrawn)

Each transition locks the purchase row on the buyer's shard (``SELECT ... FOR UPDATE``) after
claiming the buyer's bucket, and is idempotent: Stripe event ids and Kafka command ids are
recorded in the same transaction. The seller's side (sale row and totals) is written in the
same transaction when the seller's bucket is on the buyer's shard, otherwise in a second,
idempotent one with the ``sale_recorded`` flag as the outbox (see the package docstring).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiomysql
import pymysql
import structlog

from agents.purchases.ledger.queries import (
    SETTLED,
    PurchaseQueries,
    lock_purchase,
    select_purchase,
    select_purchases,
)
from agents.purchases.ledger.records import (
    KEY_MAX,
    OPEN_STATUSES,
    REASON_MAX,
    AlreadyOwned,
    LedgerConflict,
    LedgerError,
    Purchase,
    Retry,
    aware,
    check_cents,
    check_currency,
    check_id,
    naive,
)
from agents.purchases.ledger.records import now as now_
from agents.purchases.ledger.routing import bucket_of, owns_now

log = structlog.get_logger()

_DUPLICATE_KEY = 1062


class PurchaseStates(PurchaseQueries):
    """The ledger's writes (and the reads they build on)."""

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
            check_id(name, value)
        if idempotency_key is not None:
            check_id("idempotency_key", idempotency_key, KEY_MAX)
        check_cents(amount_cents)
        currency = check_currency(currency)

        async def work(cur: aiomysql.Cursor) -> Purchase | AlreadyOwned:
            now = now_()
            await cur.execute(
                "SELECT purchase_id, result FROM processed_commands WHERE command_id = %s",
                (command_id,),
            )
            done = await cur.fetchone()
            if done is not None:
                return await self._replay_command(cur, done[0], json.loads(done[1]))
            existing = None
            if idempotency_key is not None:
                existing = await select_purchase(
                    cur, "buyer_id = %s AND idempotency_key = %s", (buyer_id, idempotency_key)
                )
            if existing is None:
                existing = await select_purchase(cur, "purchase_id = %s", (purchase_id,))
            live = None
            if existing is None:
                live = await select_purchase(
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
                created_at=aware(now),
                updated_at=aware(now),
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
                    raise Retry from exc  # a concurrent twin won: replay its result
                raise

        result = await self._run_for(buyer_id, work_or_retry)
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
        check_id("intent_id", intent_id, KEY_MAX)
        check_id("client_secret", client_secret, KEY_MAX)

        async def work(cur: aiomysql.Cursor) -> Purchase:
            purchase, _ = await lock_purchase(cur, purchase_id, buyer_id)
            if purchase.payment_intent_id not in (None, intent_id):
                raise LedgerConflict(
                    f"purchase {purchase_id} is paid through {purchase.payment_intent_id}, "
                    f"not {intent_id}"
                )
            now = now_()
            if purchase.status == "pending":
                await cur.execute(
                    "UPDATE purchases SET status = 'awaiting_payment', payment_intent_id = %s, "
                    "client_secret = %s, updated_at = %s WHERE purchase_id = %s",
                    (intent_id, client_secret, now, purchase_id),
                )
                return _replace(
                    purchase, status="awaiting_payment", payment_intent_id=intent_id,
                    client_secret=client_secret, updated_at=aware(now),
                )
            if purchase.payment_intent_id is None:
                await cur.execute(
                    "UPDATE purchases SET payment_intent_id = %s, updated_at = %s "
                    "WHERE purchase_id = %s",
                    (intent_id, now, purchase_id),
                )
                return _replace(purchase, payment_intent_id=intent_id, updated_at=aware(now))
            return purchase

        try:
            return await self._run_for(buyer_id, work)
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
        the package docstring). Because a call that crashed after committing is retried as a
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
        check_id("stripe_event_id", stripe_event_id, KEY_MAX)
        if amount_cents is not None:
            check_cents(amount_cents)
        attempted = False  # this call already tried to apply the payment (before a retry)

        async def work(cur: aiomysql.Cursor) -> tuple[bool, Purchase, bool]:
            nonlocal attempted
            purchase, sale_recorded = await lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_event_id):
                # After a lost connection during COMMIT, the retry finds this call's own
                # payment: it did complete the purchase, so say so.
                return attempted and purchase.status == "completed", purchase, sale_recorded
            now = now_()
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
            same_shard = await owns_now(cur, bucket_of(purchase.seller_id))
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
                failure_reason=None, completed_at=aware(now), updated_at=aware(now),
            )
            if same_shard:
                await _insert_sale(cur, completed)
            return True, completed, same_shard

        return await self._then_seller_side(buyer_id, work, "completed", self._record_sale)

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
            check_id("stripe_event_id", stripe_event_id, KEY_MAX)
        reason = (reason or "failed")[:REASON_MAX]

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await lock_purchase(cur, purchase_id, buyer_id)
            now = now_()
            if stripe_event_id is not None:
                if await _event_seen(cur, stripe_event_id):
                    return False
                await _insert_payment(
                    cur, stripe_event_id, purchase, "failed", 0, purchase.payment_intent_id,
                    reason, now,
                )
            if purchase.status not in OPEN_STATUSES:
                return False
            await _mark_failed(cur, purchase_id, reason, now)
            return True

        return await self._run_for(buyer_id, work)

    async def expire(self, purchase_id: str, buyer_id: str, reason: str) -> bool:
        """Fail a purchase whose payment did not arrive in time, if it still awaits payment.

        Conditional under the row lock, so several workers expiring the same purchase fail it
        once: only the call that did returns True. The ``expired`` payments row marks it, so
        that money arriving later is recorded as a refund due (see :meth:`complete`). The
        caller cancels the PaymentIntent at Stripe first.
        """
        reason = (reason or "expired")[:REASON_MAX]

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await lock_purchase(cur, purchase_id, buyer_id)
            if purchase.status != "awaiting_payment":
                return False
            now = now_()
            await _insert_payment(cur, f"expired-{purchase_id}", purchase, "expired", 0,
                                  purchase.payment_intent_id, reason, now)
            await _mark_failed(cur, purchase_id, reason, now)
            return True

        return await self._run_for(buyer_id, work)

    async def request_refund(self, purchase_id: str, buyer_id: str) -> None:
        """Note that the seller asked for this purchase's refund (once; repeats are no-ops),
        so the refund is told as the seller's whichever Stripe fact applies it first."""

        async def work(cur: aiomysql.Cursor) -> None:
            purchase, _ = await lock_purchase(cur, purchase_id, buyer_id)
            event_id = f"refund-requested-{purchase_id}"
            if not await _event_seen(cur, event_id):
                await _insert_payment(cur, event_id, purchase, "refund_requested", 0,
                                      purchase.payment_intent_id, None, now_())

        await self._run_for(buyer_id, work)

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
        check_id("stripe_id", stripe_id, KEY_MAX)
        check_cents(amount_refunded_cents)

        async def work(cur: aiomysql.Cursor) -> tuple[bool, Purchase, bool]:
            purchase, sale_recorded = await lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_id) or purchase.status == "refunded":
                return False, purchase, sale_recorded
            now = now_()
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
            same_shard = await owns_now(cur, bucket_of(purchase.seller_id))
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
            refunded = _replace(purchase, status="refunded", updated_at=aware(now))
            if same_shard:
                await _delete_sale(cur, refunded)
            return True, refunded, same_shard

        return await self._then_seller_side(buyer_id, work, "refunded", self._unrecord_sale)

    async def record_dispute(
        self, purchase_id: str, buyer_id: str, stripe_event_id: str, state: str,
        amount_cents: int, note: str,
    ) -> bool:
        """Record a dispute's opening or closing (``state``); True the first time this event
        is recorded. What a lost dispute means is the caller's: :meth:`refund`."""
        check_id("stripe_event_id", stripe_event_id, KEY_MAX)
        check_cents(amount_cents)
        if state not in ("opened", "closed"):
            raise ValueError(f"a dispute is opened or closed, not {state!r}")

        async def work(cur: aiomysql.Cursor) -> bool:
            purchase, _ = await lock_purchase(cur, purchase_id, buyer_id)
            if await _event_seen(cur, stripe_event_id):
                return False
            await _insert_payment(cur, stripe_event_id, purchase, f"dispute_{state}",
                                  amount_cents, purchase.payment_intent_id, note, now_())
            return True

        return await self._run_for(buyer_id, work)

    async def reconcile_sales(self, limit: int = 1000) -> int:
        """Write the sales that a crash between the two shards' transactions left unrecorded
        (completed purchases whose ``sale_recorded`` is still false) and remove the sales of
        refunded ones likewise left behind; returns how many were repaired. Safe to run at
        any time, from any number of workers."""
        repaired = 0
        for shard in range(self.shard_count):

            async def pending(cur: aiomysql.Cursor) -> list[Purchase]:
                return await select_purchases(
                    cur, "sale_recorded = FALSE AND status IN ('completed', 'refunded') "
                    f"AND {SETTLED} LIMIT %s", (limit,),
                )

            for purchase in await self._run(shard, pending):
                if purchase.status == "completed":
                    await self._record_sale(purchase)
                else:
                    await self._unrecord_sale(purchase)
                repaired += 1
        return repaired

    async def _then_seller_side(
        self,
        buyer_id: str,
        work: Callable[[aiomysql.Cursor], Awaitable[tuple[bool, Purchase, bool]]],
        status: str,
        second_step: Callable[[Purchase], Awaitable[None]],
    ) -> bool:
        """Run the buyer's side (``work`` answers whether it changed the purchase, the
        purchase, and its ``sale_recorded``), then the seller's side if the purchase is in
        ``status`` and its sale is not yet recorded there (see the package docstring)."""
        changed, purchase, sale_recorded = await self._run_for(buyer_id, work)
        if purchase.status == status and not sale_recorded:
            await second_step(purchase)
        return changed

    async def _replay_command(
        self, cur: aiomysql.Cursor, purchase_id: str | None, result: dict[str, Any]
    ) -> Purchase | AlreadyOwned:
        """The answer a processed command gave the first time, given again."""
        purchase = None
        if purchase_id is not None:
            purchase = await select_purchase(cur, "purchase_id = %s", (purchase_id,))
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
            current, _ = await lock_purchase(cur, purchase.purchase_id, purchase.buyer_id)
            if current.status == "completed":
                await cur.execute(
                    "UPDATE purchases SET sale_recorded = TRUE WHERE purchase_id = %s",
                    (purchase.purchase_id,),
                )
            return current.status

        await self._run_for(purchase.seller_id, on_seller_shard)
        if await self._run_for(purchase.buyer_id, flag) == "refunded":
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

        await self._run_for(purchase.seller_id, on_seller_shard)
        await self._run_for(purchase.buyer_id, flag)


# -- transitions in SQL
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
             note[:REASON_MAX] if note else None, now),
        )
    except pymysql.err.IntegrityError as exc:
        if exc.args[0] == _DUPLICATE_KEY:
            raise LedgerConflict(f"event {event_id} was applied to another purchase") from exc
        raise


async def _mark_failed(
    cur: aiomysql.Cursor, purchase_id: str, reason: str, now: datetime
) -> None:
    """Failed frees the picture for the buyer (live_picture_id NULL) and forgets the secret."""
    await cur.execute(
        "UPDATE purchases SET status = 'failed', live_picture_id = NULL, "
        "failure_reason = %s, client_secret = NULL, updated_at = %s WHERE purchase_id = %s",
        (reason, now, purchase_id),
    )


async def _insert_sale(cur: aiomysql.Cursor, purchase: Purchase) -> None:
    """The sale row and the seller's totals, once: the sale's primary key guards the totals."""
    completed_at = naive(purchase.completed_at or purchase.updated_at)
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
        (purchase.amount_cents, now_(), purchase.seller_id, purchase.currency),
    )


async def _record_command(
    cur: aiomysql.Cursor, command_id: str, purchase_id: str, outcome: str, now: datetime
) -> None:
    await cur.execute(
        "INSERT INTO processed_commands (command_id, purchase_id, result, processed_at) "
        "VALUES (%s, %s, %s, %s)",
        (command_id, purchase_id, json.dumps({"outcome": outcome}), now),
    )



def _replace(purchase: Purchase, **changes: Any) -> Purchase:
    return dataclasses.replace(purchase, **changes)

