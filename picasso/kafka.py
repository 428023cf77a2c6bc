"""Kafka plumbing shared by the edge and the agents: topic creation and a command sender."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import RecordMetadata

from picasso.settings import Settings, min_insync_replicas, topic_retention_ms
from topics import ALL_TOPICS
from topics.envelope import CloudEvent
from topics.record import Record


async def ensure_topics(settings: Settings) -> None:
    """Create every topic of the contract that the broker does not have yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(t.name(settings.topic_prefix), settings.topic_partitions,
                     settings.topic_replication,
                     topic_configs={
                         "min.insync.replicas":
                             str(min_insync_replicas(settings.topic_replication)),
                         "retention.ms":
                             str(topic_retention_ms(settings.topic_retention_hours))})
            for t in ALL_TOPICS
            if t.name(settings.topic_prefix) not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process created it meanwhile
    finally:
        await admin.close()


class MessageBus:
    """Sends records to their topics and waits for the broker's acknowledgement."""

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.topic_prefix
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            linger_ms=2,
        )

    async def start(self) -> None:
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def send(self, record: Record, event: CloudEvent) -> RecordMetadata:
        """Put ``event`` on ``record``'s topic keyed by its subject; returns once acknowledged,
        with where the broker put it."""
        return await self.send_raw(record.topic.name(self.prefix), event.subject.encode(),
                                   event.to_json())

    async def send_raw(self, topic: str, key: bytes, value: bytes) -> RecordMetadata:
        """Put bytes on a topic by its full name; returns once acknowledged."""
        return await self.producer.send_and_wait(topic, value, key=key)

    async def ping(self) -> None:
        """Ask the broker for cluster metadata: proof that it answers."""
        if not await self.producer.client.force_metadata_update():
            raise ConnectionError("the broker did not answer a metadata request")
