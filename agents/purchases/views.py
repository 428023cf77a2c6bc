"""The purchases service's read models in MongoDB, so that the edge never reads the ledger.

One document per purchase in ``purchases`` (``picasso.mongo.PURCHASES``), a copy of the
ledger's row: the buyer's purchase and list, the licences (completed purchases by buyer and
picture: downloads and ``purchased_by_me``), the seller's sales and totals (completed
purchases by seller) and the Stripe webhook's PaymentIntent look-up are all queries over
it. One document per purchase, rather than a licence and a sale document beside it, keeps
them exact with one write: a purchase refunded is at once no licence and no sale.

The purchases agent writes a purchase's document from the ledger's current state after
every change (:meth:`PurchaseViews.publish`), before the runtime records the command as
applied, so a crash in between is repaired by the redelivery, which applies the command
again (changing nothing in the ledger) and publishes again. Writes are guarded by
``version`` (the ledger's ``updated_at``, then the status's rank): a slower writer with an
older state never overwrites a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC

from motor.motor_asyncio import AsyncIOMotorDatabase
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from agents.purchases.ledger import Purchase
from picasso.mongo import PURCHASES

# The order a purchase's states can follow one another in (a failed purchase may still be
# paid and complete; a completed one may be refunded): the tie-break within a millisecond.
_LIFE = ("pending", "awaiting_payment", "failed", "completed", "refunded")


def version(p: Purchase) -> str:
    """An order on a purchase's states that compares as strings: the ledger's update time
    (microseconds, UTC), then the status's place in the purchase's life."""
    stamp = p.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp}/{_LIFE.index(p.status)}"


def document(p: Purchase) -> dict:
    """A purchase's document in the read model, as the ledger holds it."""
    return {**p.as_dict(), "_id": p.purchase_id, "version": version(p)}


@dataclass
class PurchaseViews:
    db: AsyncIOMotorDatabase
    name: str = PURCHASES  # the collection (another while the read model is rebuilt)

    @property
    def collection(self):
        return self.db[self.name]

    async def ensure_indexes(self) -> None:
        """The edge's look-ups: a buyer's list and licences, a seller's sales, an intent."""
        c = self.collection
        await c.create_index([("buyer_id", ASCENDING), ("created_at", DESCENDING)])
        await c.create_index([("buyer_id", ASCENDING), ("picture_id", ASCENDING),
                              ("status", ASCENDING)])
        await c.create_index([("seller_id", ASCENDING), ("status", ASCENDING),
                              ("completed_at", DESCENDING)])
        await c.create_index([("payment_intent_id", ASCENDING)])

    async def publish(self, purchase: Purchase | None) -> None:
        """Write ``purchase`` (as the ledger holds it now) unless a newer state is there."""
        if purchase is None:
            return
        doc = document(purchase)
        v = doc["version"]
        try:
            await self.collection.replace_one(
                {"_id": purchase.purchase_id, "version": {"$lte": v}}, doc, upsert=True)
        except DuplicateKeyError:
            pass  # a newer state is published already: the guard missed, the upsert collided
