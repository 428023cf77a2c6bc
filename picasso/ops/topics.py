"""The contract's topics on the broker (create, describe) and consumer groups' lag.

Only topics of the contract (:data:`topics.ALL_TOPICS`, under the settings' prefix) are
created here: nothing else in Picasso spells a topic name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from topics import ALL_TOPICS, Topic


class UnknownTopic(ValueError):
    """A name that is not one of the contract's topics."""


def contract_topics(names: tuple[str, ...], prefix: str) -> list[Topic]:
    """The contract's topics ``names`` name (base names or full names), all when empty."""
    if not names:
        return list(ALL_TOPICS)
    chosen = []
    for name in names:
        found = [t for t in ALL_TOPICS if name in (t.base_name, t.name(prefix))]
        if not found:
            raise UnknownTopic(f"{name!r} is not a topic of the contract; they are: "
                               + ", ".join(t.base_name for t in ALL_TOPICS))
        chosen.extend(found)
    return chosen


async def create(bootstrap: str, names: list[str], partitions: int, replication: int, *,
                 dry_run: bool, report: Callable[[str], object]) -> list[str]:
    """Create those of ``names`` the broker lacks, each with ``partitions`` partitions and
    ``replication`` replicas; answers the names created (or, dry, that would be)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        for name in names:
            if name in existing:
                report(f"{name}: exists already (left as it is)")
            elif dry_run:
                report(f"{name}: would create with {partitions} partition(s), "
                       f"replication {replication}")
        if missing and not dry_run:
            answer = await admin.create_topics(
                [NewTopic(n, partitions, replication) for n in missing])
            errors = {name: (code, message)
                      for name, code, message, *_ in getattr(answer, "topic_errors", [])
                      if code not in (0, 36)}  # 36: it exists (another process was first)
            for name in missing:
                if name in errors:
                    code, message = errors[name]
                    raise RuntimeError(f"{name}: the broker refused it (error {code}: "
                                       f"{message})")
                report(f"{name}: created with {partitions} partition(s), "
                       f"replication {replication}")
        return missing
    finally:
        await admin.close()


@dataclass(frozen=True)
class PartitionInfo:
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    first: int  # the first offset the broker still holds
    end: int  # the offset the next message will get


async def describe(bootstrap: str, names: list[str]) -> dict[str, list[PartitionInfo] | None]:
    """Each topic's partitions (None for a topic the broker does not have)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False)
    await admin.start()
    await reader.start()
    try:
        existing = set(await admin.list_topics())
        present = [n for n in names if n in existing]
        described: dict[str, list[PartitionInfo] | None] = dict.fromkeys(names)
        for topic in await admin.describe_topics(present) if present else []:
            name = topic["topic"]
            parts = sorted(topic["partitions"], key=lambda p: p["partition"])
            tps = [TopicPartition(name, p["partition"]) for p in parts]
            firsts = await reader.beginning_offsets(tps)
            ends = await reader.end_offsets(tps)
            described[name] = [
                PartitionInfo(p["partition"], p["leader"], tuple(p["replicas"]),
                              tuple(p["isr"]), firsts[tp], ends[tp])
                for p, tp in zip(parts, tps)
            ]
        return described
    finally:
        await reader.stop()
        await admin.close()


@dataclass(frozen=True)
class GroupLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


async def lag(bootstrap: str, group: str, topic_names: list[str]) -> list[GroupLag]:
    """The group's committed offset and lag on every partition of ``topic_names``.

    Read without joining the group, so its workers see no rebalance. The lag is the end
    offset minus the committed one as the broker reports them (``lag`` of a service's app
    also fetches past the reported end; see :mod:`picasso.lag`)."""
    group_reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              enable_auto_commit=False)
    await group_reader.start()
    await reader.start()
    try:
        await group_reader.topics()
        tps = [TopicPartition(t, p) for t in topic_names
               for p in sorted(group_reader.partitions_for_topic(t) or ())]
        if not tps:
            return []
        ends = await reader.end_offsets(tps)
        return [GroupLag(group, tp.topic, tp.partition, await group_reader.committed(tp),
                         ends[tp]) for tp in tps]
    finally:
        await reader.stop()
        await group_reader.stop()
