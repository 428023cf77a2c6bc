"""The trending agent, on the likes, comments, purchases and pictures facts, and the timer
that ranks the pictures again every ``TRENDING_REFRESH_S`` on every worker.

One agent for the four topics, in batches applied with a few bulk writes each
(:meth:`~agents.trending.trending.Trending.apply`). It has no inbox: every write is keyed by
the contribution it is about and guarded by event time, and each batch's counts are added
once through its journal entry, so applying an event twice changes nothing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import faust
import structlog

from agents.trending.app import app, service
from agents.trending.scoring import bucket_of
from agents.trending.trending import Trending
from picasso.service import opened_once
from topics import COMMENTS_EVENTS, PICTURES_EVENTS, PURCHASES_EVENTS, REACTIONS_EVENTS
from topics.registry import RECORDS

log = structlog.get_logger()

TOPICS = (REACTIONS_EVENTS, COMMENTS_EVENTS, PURCHASES_EVENTS, PICTURES_EVENTS)
# How often a worker removes buckets and activity too old for any window.
SWEEP_INTERVAL_S = 60.0


def now() -> datetime:
    """The service's clock: the time now, moved by ``TRENDING_CLOCK_OFFSET_S`` in tests."""
    return datetime.now(UTC) + timedelta(seconds=service.settings.trending_clock_offset_s)


async def _open() -> Trending:
    domain = Trending((await service.resources()).db, clock=now)
    await domain.ensure_indexes()
    return domain


_trending = opened_once(_open)
_channel = app.topic(*(t.name(service.settings.topic_prefix) for t in TOPICS),
                     key_type=bytes, value_type=bytes,
                     partitions=service.settings.topic_partitions)


@app.agent(_channel, name="trending")
async def activity(stream: faust.StreamT) -> None:
    """Every record of the four topics is accepted (those trending needs nothing of are
    ignored), so that only messages that do not parse are dead-lettered."""
    domain = await _trending()
    accepted = [record for record in RECORDS.values() if record.topic in TOPICS]
    agent = service.agent("trending", accepted, domain.handle, db=domain.db,
                          batch_handler=domain.handle_batch)
    await service.consume(stream, agent)


# When each worker last ranked, swept, and how long its last ranking took.
_last = {"ranked": 0.0, "bucket": 0.0, "swept": 0.0, "took": 0.0}
# A worker ranks again at least this often even when it changed nothing: another worker's
# changes may have been ranked before its own last write of the read model.
RANK_AT_LEAST_EVERY_S = 30.0


def _due(domain: Trending, moment: float) -> bool:
    """Whether to rank again now. The order changes only when counts change or a bucket
    leaves a window (at a bucket boundary; the ranks do not decay, see
    :mod:`agents.trending.scoring`), so a quiet worker does not rank every few seconds; a
    busy one ranks at most one tenth of its time."""
    since = moment - _last["ranked"]
    if since < 10 * _last["took"]:
        return False
    boundary = bucket_of(now()).timestamp() != _last["bucket"]
    return domain.changed or boundary or since >= RANK_AT_LEAST_EVERY_S


@app.timer(interval=service.settings.trending_refresh_s, name="trending-refresh")
async def refresh() -> None:
    """Rank again when the order may have changed, and now and then sweep what is too old."""
    try:
        domain = await _trending()
        moment = time.monotonic()
        if _due(domain, moment):
            _last["bucket"] = bucket_of(now()).timestamp()
            await domain.refresh()
            _last["ranked"], _last["took"] = moment, time.monotonic() - moment
        if moment - _last["swept"] >= SWEEP_INTERVAL_S:
            await domain.sweep()
            _last["swept"] = moment
    except Exception as exc:  # noqa: BLE001 - the timer must outlive a pass; the next retries
        log.warning("trending_refresh_failed", error=repr(exc))
