"""How much accepted work a consumer group has not applied yet, per topic and partition.

``faust -A agents.<domain>.app lag`` prints it for one service; ``--wait S`` waits (at
most S seconds) until it is zero, which is how ``make run`` drains before it stops the
broker.

A message counts as applied once the group's committed offset is past it (agents
acknowledge a message only after applying or dead-lettering it). The committed offset is
compared with what a fetch from that offset finds, not only with the partition's reported
end offset: the local broker can report an end offset short of the last record.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int  # the next offset the group will read (0 if it never committed)
    pending: int  # records at or after ``committed``, at least


async def measure(bootstrap: str, group_id: str, topics: list[str]) -> list[PartitionLag]:
    """The group's lag on every partition of ``topics`` that has work not yet applied."""
    # The group's own offsets, read without joining the group (no rebalance for the workers).
    group = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                             enable_auto_commit=False)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False, auto_offset_reset="latest")
    await group.start()
    await reader.start()
    try:
        await group.topics()  # fills the metadata that partitions_for_topic reads
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(group.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        committed = {tp: (await group.committed(tp)) or 0 for tp in partitions}
        ends = await reader.end_offsets(partitions)
        reader.assign(partitions)
        for tp in partitions:
            reader.seek(tp, committed[tp])
        found: dict[TopicPartition, int] = {}
        fetched = await reader.getmany(timeout_ms=1000)
        for tp, records in fetched.items():
            found[tp] = len(records)
        lags = []
        for tp in partitions:
            pending = max(ends.get(tp, 0) - committed[tp], found.get(tp, 0))
            if pending > 0:
                lags.append(PartitionLag(tp.topic, tp.partition, committed[tp], pending))
        return lags
    finally:
        await reader.stop()
        await group.stop()


async def wait_drained(bootstrap: str, group_id: str, topics: list[str], timeout_s: float,
                       report) -> list[PartitionLag]:
    """Measure until nothing is pending, or ``timeout_s`` passed; answers what is left.

    ``report`` gets a one-line progress message whenever the pending total changes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last_total = None
    while True:
        lags = await measure(bootstrap, group_id, topics)
        total = sum(lag.pending for lag in lags)
        if total != last_total:
            report(f"{total} accepted message(s) not applied yet"
                   + (": " + ", ".join(f"{lag.topic}[{lag.partition}] {lag.pending}"
                                       for lag in lags) if lags else ""))
            last_total = total
        if not lags or loop.time() >= deadline:
            return lags
        await asyncio.sleep(1.0)
