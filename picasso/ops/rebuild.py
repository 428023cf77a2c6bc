"""Rebuild a read model from its service's source of truth, and switch to it with no gap.

The owning service says how its read model is made (a :class:`ReadModel`: every document
from the source, or the documents of some ids, and the indexes). ``rebuild`` then:

1. builds every document into a fresh collection ``<name>_rebuild_<stamp>``, with the
   model's indexes, while the live one goes on serving reads and taking writes;
2. catches up: the ids whose commands the service's inbox recorded since the build began
   (less a margin for clocks and commits) are made again from the source, until a pass
   finds none new;
3. switches: ``renameCollection`` with ``dropTarget`` puts the fresh collection in the
   live one's place in one step (the local MongoDB-compatible server does it too, indexes
   included), so a reader finds the old collection or the new one, never none or a part
   (a rebuild that fails before this drops its fresh collection);
4. settles: what the service applied in the moment between the last pass and the switch
   went to the old collection, so the ids recorded since the last pass are made again, in
   the live collection now, until a pass after ``settle_s`` finds none new.

A document made from the source is the whole document, written by id, so making it twice
changes nothing. What it cannot rule out: a command applied to a document while step 4
makes that same document, which the owner records only after writing (its inbox), can be
overwritten with the state before it until the next pass (step 4 runs until a pass finds
nothing new, and waits ``settle_s`` first for that).
"""

from __future__ import annotations

import asyncio
import time as clock
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import AsyncIterator, Awaitable, Callable

from motor.motor_asyncio import AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo import DeleteOne, ReplaceOne
from pymongo.errors import BulkWriteError

from picasso.mongo import DUPLICATE_KEY
from picasso.runtime import Inbox
from topics.envelope import utc_stamp

# Records applied this long before a pass began are looked at again by the next pass: the
# inbox's ``applied_at`` is stamped before its write commits.
MARGIN_S = 5.0
BATCH = 500
IN_MAX = 50  # ids per $in (see picasso.runtime.IN_MAX)
MAX_PASSES = 50


@dataclass(frozen=True)
class ReadModel:
    """How one read model is made from its service's source of truth."""

    name: str  # the collection the edge reads
    inbox: str  # the service's inbox, whose records' subjects are the ids they changed
    source: str  # in words, for --help and the report
    # Every (id, document) from the source; the id alone (document None) when it has none.
    everything: Callable[[AsyncIOMotorDatabase], AsyncIterator[tuple[str, dict | None]]]
    # The documents of ``ids`` as the source has them now (an id left out: no document).
    some: Callable[[AsyncIOMotorDatabase, list[str]], Awaitable[dict[str, dict]]]
    ensure_indexes: Callable[[AsyncIOMotorCollection], Awaitable[None]]
    # A document's own guard against a slower writer (e.g. ``{"version": {"$lte": v}}``):
    # a document made again replaces one only where it holds, as the owner's writes do.
    guard: Callable[[dict], dict] | None = None
    # Releases what ``everything`` and ``some`` opened (a ledger's pools), once done.
    close: Callable[[], Awaitable[None]] | None = None


def _stamp(moment: float) -> str:
    return utc_stamp(datetime.fromtimestamp(moment, UTC))


async def changed_since(db: AsyncIOMotorDatabase, model: ReadModel, since: str) -> list[str]:
    """The ids whose commands the model's inbox recorded at or after ``since`` (a record
    of one command names its ``subject``, a versioned agent's record of a batch its
    ``subjects``)."""
    found = db[model.inbox].find({"applied_at": {"$gte": since}}, {"subject": 1, "subjects": 1})
    return sorted({subject async for doc in found for subject in Inbox.subjects_of(doc)})


async def remake(db: AsyncIOMotorDatabase, model: ReadModel, target: AsyncIOMotorCollection,
                 ids: list[str]) -> int:
    """Write the documents of ``ids`` into ``target`` as the source has them (removing
    those it has none for); answers how many were written or removed."""
    done = 0
    for start in range(0, len(ids), IN_MAX):
        part = ids[start:start + IN_MAX]
        docs = await model.some(db, part)
        writes = [ReplaceOne({"_id": i, **(model.guard(docs[i]) if model.guard else {})},
                             docs[i], upsert=True) if i in docs
                  else DeleteOne({"_id": i}) for i in part]
        try:
            await target.bulk_write(writes, ordered=False)
        except BulkWriteError as exc:  # a guarded upsert met a newer document: it stays
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
        done += len(writes)
    return done


async def differences(db: AsyncIOMotorDatabase, model: ReadModel) -> tuple[int, int, int]:
    """(documents the source makes, how many of them the live collection lacks or holds
    otherwise, documents the live collection holds that the source does not make)."""
    live = db[model.name]
    made = differ = 0
    ids: set[str] = set()
    pending: list[tuple[str, dict]] = []

    async def check() -> int:
        found = {d["_id"]: d async for d in live.find({"_id": {"$in": [i for i, _ in pending]}})}
        # Compared on the model's fields: the owner may keep its own beside them (the
        # reactions' claim on a count).
        return sum(1 for i, doc in pending
                   if i not in found or {k: found[i].get(k) for k in doc} != doc)

    async for id_, doc in model.everything(db):
        if doc is None:
            continue
        made += 1
        ids.add(id_)
        pending.append((id_, doc))
        if len(pending) >= IN_MAX:
            differ += await check()
            pending = []
    if pending:
        differ += await check()
    extra = 0
    async for d in live.find({}, {"_id": 1}):
        extra += d["_id"] not in ids
    return made, differ, extra


async def rebuild(db: AsyncIOMotorDatabase, model: ReadModel, *, dry_run: bool,
                  settle_s: float, report: Callable[[str], object]) -> str | None:
    """Rebuild ``model`` (see the module's description); answers the collection built, or
    None on a dry run, which only says what the live collection would gain or lose."""
    try:
        return await _rebuild(db, model, dry_run=dry_run, settle_s=settle_s, report=report)
    finally:
        if model.close is not None:
            await model.close()


async def _rebuild(db: AsyncIOMotorDatabase, model: ReadModel, *, dry_run: bool,
                   settle_s: float, report: Callable[[str], object]) -> str | None:
    if dry_run:
        made, differ, extra = await differences(db, model)
        report(f"{model.name}: the source ({model.source}) makes {made} document(s); "
               f"{differ} of them the live collection lacks or holds otherwise, and it holds "
               f"{extra} the source does not make. Dry run: nothing written.")
        return None
    began = clock.time()
    target_name = f"{model.name}_rebuild_{datetime.now(UTC):%Y%m%d%H%M%S}"
    target = db[target_name]
    await db[model.inbox].create_index("applied_at")  # each catch-up pass reads by it
    try:
        await model.ensure_indexes(target)
        watermark = await _build(db, model, target, began, report)
    except BaseException:
        await target.drop()  # nothing half built stays behind
        raise
    await db.client.admin.command("renameCollection", f"{db.name}.{target_name}",
                                  to=f"{db.name}.{model.name}", dropTarget=True)
    report(f"{model.name}: switched to the rebuilt collection")
    await _catch_up(db, model, db[model.name], watermark, settle_s, report, "settled")
    return target_name


async def _build(db: AsyncIOMotorDatabase, model: ReadModel, target: AsyncIOMotorCollection,
                 began: float, report: Callable[[str], object]) -> str:
    """Every document into ``target``, then caught up; answers the last pass's watermark."""
    watermark = _stamp(began - MARGIN_S)
    built = 0
    batch: list[dict] = []
    async for _, doc in model.everything(db):
        if doc is None:
            continue
        batch.append(doc)
        if len(batch) >= BATCH:
            await target.insert_many(batch, ordered=False)
            built += len(batch)
            batch = []
    if batch:
        await target.insert_many(batch, ordered=False)
        built += len(batch)
    report(f"{model.name}: built {built} document(s) from {model.source} into {target.name} "
           f"in {clock.time() - began:.1f}s")
    return await _catch_up(db, model, target, watermark, 0.0, report, "caught up")


async def _catch_up(db: AsyncIOMotorDatabase, model: ReadModel,
                    target: AsyncIOMotorCollection, watermark: str, settle_s: float,
                    report: Callable[[str], object], verb: str) -> str:
    """Make again the ids changed since ``watermark`` until a pass (the first one after
    ``settle_s``) finds none; answers the watermark of the last pass."""
    settle_until = clock.time() + settle_s
    for _ in range(MAX_PASSES):
        began = clock.time()
        ids = await changed_since(db, model, watermark)
        if ids:
            await remake(db, model, target, ids)
            report(f"{model.name}: {verb}: {len(ids)} document(s) changed meanwhile, made again")
        watermark = _stamp(began - MARGIN_S)
        if not ids and began >= settle_until:
            return watermark
        if began < settle_until:
            await asyncio.sleep(min(1.0, settle_until - began))
    return watermark


def since_seconds(seconds: float) -> str:
    """The RFC 3339 stamp ``seconds`` ago."""
    return utc_stamp(datetime.now(UTC) - timedelta(seconds=seconds))
