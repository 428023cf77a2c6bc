"""The trending agent, on the likes, comments, purchases and pictures facts, and the timer
that ranks the pictures again every ``TRENDING_REFRESH_S`` on every worker.

One agent for the four topics: its batches go through the inbox (``trending_processed``,
so an event id is applied once) and are applied with a few bulk writes
(:meth:`~agents.trending.trending.Trending.apply`); the writes are keyed and guarded by
event time besides, so applying an event twice would change nothing either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import faust
import structlog

from agents.trending.app import app, service
from agents.trending.trending import Trending
from picasso.mongo import TRENDING_PROCESSED
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
    agent = service.agent("trending", accepted, domain.handle, inbox=TRENDING_PROCESSED,
                          db=domain.db, batch_handler=domain.handle_batch)
    await service.consume(stream, agent)


_last_sweep = [0.0]


@app.timer(interval=service.settings.trending_refresh_s, name="trending-refresh")
async def refresh() -> None:
    """Rank again (scores decay and buckets leave the windows as time passes, besides the
    activity that came), and now and then sweep what is too old."""
    try:
        domain = await _trending()
        await domain.refresh()
        moment = datetime.now(UTC).timestamp()
        if moment - _last_sweep[0] >= SWEEP_INTERVAL_S:
            await domain.sweep()
            _last_sweep[0] = moment
    except Exception as exc:  # noqa: BLE001 - the timer must outlive a pass; the next retries
        log.warning("trending_refresh_failed", error=repr(exc))
