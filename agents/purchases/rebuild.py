"""The purchases read model, made again from the ledger.

``faust -A agents.purchases.app rebuild purchases [--dry-run]`` (see
:mod:`picasso.ops.rebuild`). The source of truth is the MariaDB ledger, on every shard: one
document per purchase, exactly as the agent publishes it after every change
(:func:`agents.purchases.views.document`), and written under the same guard, so that a
document made again never replaces a newer state the agent published meanwhile. Rows of a
bucket being moved between shards are read where the move left them (the settled copy).
"""

from __future__ import annotations

from typing import AsyncIterator

import aiomysql
from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase

from agents.purchases.ledger import Ledger
from agents.purchases.ledger.queries import SETTLED, select_purchases
from agents.purchases.views import PurchaseViews, document
from picasso.mongo import PURCHASES, PURCHASES_PROCESSED
from picasso.ops.rebuild import ReadModel
from picasso.service import opened_once
from picasso.settings import Settings


def purchases_model(settings: Settings) -> ReadModel:
    """The purchases read model over the ledger on ``settings``' shards."""
    opened: list[Ledger] = []

    async def open_ledger() -> Ledger:
        opened.append(await Ledger.open(list(settings.mysql_shards), migrate=False))
        return opened[0]

    ledger = opened_once(open_ledger)

    async def everything(db: AsyncIOMotorDatabase) -> AsyncIterator[tuple[str, dict | None]]:
        async def work(cur: aiomysql.Cursor):
            return await select_purchases(cur, SETTLED, ())

        for shard in await (await ledger())._scatter(work):
            for purchase in shard:
                yield purchase.purchase_id, document(purchase)

    async def some(db: AsyncIOMotorDatabase, ids: list[str]) -> dict[str, dict]:
        marks = ", ".join(["%s"] * len(ids))

        async def work(cur: aiomysql.Cursor):
            return await select_purchases(cur, f"purchase_id IN ({marks}) AND {SETTLED}",
                                          tuple(ids))

        return {p.purchase_id: document(p)
                for shard in await (await ledger())._scatter(work) for p in shard}

    async def ensure_indexes(collection: AsyncIOMotorCollection) -> None:
        await PurchaseViews(collection.database, collection.name).ensure_indexes()

    async def close() -> None:
        for opened_ledger in opened:
            await opened_ledger.close()

    return ReadModel(
        name=PURCHASES, inbox=PURCHASES_PROCESSED, source="the ledger (MariaDB, every shard)",
        everything=everything, some=some, ensure_indexes=ensure_indexes,
        guard=lambda doc: {"version": {"$lte": doc["version"]}}, close=close,
    )
