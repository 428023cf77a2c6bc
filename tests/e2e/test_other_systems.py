"""Another system on Kafka: it reads the served AsyncAPI document and sends a like with
another client library (confluent-kafka, librdkafka's Python binding), built by hand as
plain JSON, none of Picasso's code; Picasso counts it. README.md, "Other systems on Kafka",
shows the same producer."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import KafkaError, Message, Producer
from jsonschema import Draft202012Validator, FormatChecker

from picasso.settings import Settings
from tests.helpers import Api, jpeg_with_gps
from topics.asyncapi import asyncapi_document

LIKE = "picasso.reactions.LikePicture"


def send_with_librdkafka(bootstrap: str, topic: str, key: str, event: dict[str, Any]) -> Message:
    """The README's producer: one CloudEvent, keyed, partitioned like the Java client."""
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "partitioner": "murmur2_random",  # as the Java client and Picasso partition keys
    })
    delivered: list[tuple[KafkaError | None, Message]] = []
    producer.produce(topic, key=key.encode(), value=json.dumps(event).encode(),
                     on_delivery=lambda error, message: delivered.append((error, message)))
    assert producer.flush(15) == 0, "the like was not delivered in 15 s"
    [(error, message)] = delivered
    assert error is None, error
    return message


def channel_of(doc: dict[str, Any], type_: str) -> dict[str, Any]:
    """The channel the AsyncAPI document says ``type_`` travels on."""
    [channel] = [c for c in doc["channels"].values() if type_ in c["messages"]]
    return channel


async def test_the_served_asyncapi_document_is_the_generated_one(api: Api) -> None:
    status, doc, answer = await api.call("GET", "/api/v1/asyncapi.json")
    assert status == 200 and answer.content_type == "application/json"
    assert doc == json.loads(json.dumps(asyncapi_document()))


async def test_a_like_sent_with_librdkafka_is_counted(api: Api, settings: Settings) -> None:
    ada, bob = await api.register("Ada"), await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48))
    status, doc, _ = await api.call("GET", "/api/v1/asyncapi.json")
    assert status == 200
    channel = channel_of(doc, LIKE)
    message = doc["components"]["messages"][LIKE]
    assert "picture_id" in message["bindings"]["kafka"]["key"]["description"]
    event = {
        "specversion": "1.0",
        "id": uuid.uuid4().hex,
        "source": "/elsewhere/likes",
        "type": LIKE,
        "time": datetime.now(UTC).isoformat(),
        "subject": picture["picture_id"],
        "datacontenttype": "application/json",
        "data": {"picture_id": picture["picture_id"], "user_id": bob.user_id},
    }
    Draft202012Validator(message["payload"], format_checker=FormatChecker()).validate(event)
    topic = settings.topic_prefix + channel["address"]

    sent = await asyncio.to_thread(send_with_librdkafka, settings.kafka_bootstrap, topic,
                                   picture["picture_id"], event)

    partitions = list(range(settings.topic_partitions))
    assert sent.partition() == DefaultPartitioner()(sent.key(), partitions, partitions), (
        "librdkafka put the key on another partition than Picasso's producers would")
    status, seen, _ = await api.call(
        "GET", f"/api/v1/pictures/{picture['picture_id']}?after={event['id']}&wait_ms=10000",
        user=bob)
    assert status == 200
    assert seen["like_count"] == 1 and seen["liked_by_me"] is True
