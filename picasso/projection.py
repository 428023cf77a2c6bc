"""Projections a service keeps of another domain's events, in its own MongoDB collection.

A service never reads another's store: it keeps the few facts it needs from the other's
events (the purchases catalogue, the mail service's pictures and users). Two things every
such projection needs, and that are easy to get subtly wrong, live here:

* :func:`remember`: write some fields of one document, each only if the event that tells
  it is not older than the one that last wrote that field. Events of one key arrive in
  order on one partition, but a redelivery after a crash or a ``resend`` after the broker
  lost its messages can bring an older event after a newer one; the guard makes applying
  events exact whatever their order, and safe with two writers (during a rebalance), since
  each field's guard and write are one atomic update.
* :func:`wait_for`: a document that another stream has not brought yet, waited for a
  bounded time, for a command that arrived before the event it depends on.
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError

# A field's guard is stored beside it: ``<field>_at``, the time of the event that wrote it.
_AT = "_at"


async def remember(collection: AsyncIOMotorCollection, key: str,
                   fields: Mapping[str, Any], at: str) -> None:
    """Set ``fields`` of document ``key`` as told at ``at`` (RFC 3339 UTC, as every stored
    time), each field unless a later event wrote it already. A tie is written again (the
    same event redelivered writes the same value)."""
    for name, value in fields.items():
        guard = name + _AT
        try:
            await collection.update_one(
                {"_id": key, "$or": [{guard: {"$lte": at}}, {guard: {"$exists": False}}]},
                {"$set": {name: value, guard: at}}, upsert=True)
        except DuplicateKeyError:
            pass  # the document holds a newer value: the guard missed, the upsert collided


async def wait_for(collection: AsyncIOMotorCollection, query: Mapping[str, Any],
                   timeout_s: float, projection: Mapping[str, Any] | None = None
                   ) -> dict | None:
    """The first document matching ``query``, looking again (with a growing pause) for up
    to ``timeout_s`` seconds; None if none came in that time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.02
    while True:
        doc = await collection.find_one(query, projection)
        left = deadline - loop.time()
        if doc is not None or left <= 0:
            return doc
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 0.5)
