"""The AsyncAPI 3.0 document of Picasso's Kafka contract, for the systems that produce and
consume its topics (the edge serves it at ``GET /api/v1/asyncapi.json``).

It is built from this package alone: a channel per topic of :data:`topics.ALL_TOPICS` (its
address is the topic's name, its key in the channel's description and in every message's
Kafka binding), a message per record of :data:`topics.registry.RECORDS` whose payload is
the record's whole CloudEvents JSON Schema, and an operation per channel and direction:
Picasso's services receive the commands and send the events. A topic or record added to
the contract is in the document without a line here.

``python -m topics.asyncapi [path]`` writes it to ``path`` (or prints it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from topics import ALL_TOPICS, Topic
from topics.record import Record
from topics.registry import RECORDS

ASYNCAPI_VERSION = "3.0.0"
CONTENT_TYPE = "application/cloudevents+json"
KAFKA_BINDING_VERSION = "0.5.0"
SERVER = "kafka"
# What Picasso's services do with each kind of record.
ACTIONS = {"command": "receive", "event": "send"}

DESCRIPTION = """\
The Kafka topics of Picasso, a marketplace for pictures, for the systems that produce
and consume them.

**Messages** are CloudEvents 1.0 in structured mode: the Kafka value is one JSON object
(`specversion`, `id`, `source`, `type`, `time`, `subject`, `datacontenttype`, `data`), and
each message's payload below is its JSON Schema (the same files as `topics/schemas/`).
`type` names the record, e.g. `picasso.reactions.LikePicture`; `id` is unique per message
and consumers are idempotent on it (a redelivery or a retry with the same `id` is applied
once); `subject`, when given, is the Kafka key.
Two optional extension attributes carry the trace of the request behind a message:
`traceparent` (W3C Trace Context, `00-<trace id>-<span id>-<flags>`, the CloudEvents
distributed-tracing extension) and `correlationid` (the id of the HTTP request). Picasso's
services copy both from a command onto every event it causes; a producer may send its own.

**Keys.** Every topic is keyed by one field of its records' `data` (the channel says
which; each message's Kafka binding describes the key): the records of one picture, one
purchase or one person stay in order on one partition. Send the key as UTF-8 bytes, and
choose the partition as the Java client does (murmur2 of the key), as Picasso's own
producers do; with librdkafka set `partitioner` to `murmur2_random` (its default hashes
differently, and one picture's records would then be split across partitions).

**Commands and events.** Picasso's services receive the commands (`*.commands` topics) and
send the events (`*.events`): another system may send commands and read events. A command
that does not match its schema, or that a service refuses, goes to `picasso.deadletter`
with the reason.

**Topic names** are the channels' addresses. A deployment may put a prefix before every
topic name (the `PICASSO_TOPIC_PREFIX` setting, empty by default; the tests use one per
session): prepend the same prefix.
"""


def _channel_id(topic: Topic) -> str:
    return topic.base_name


def _message_id(record: Record) -> str:
    return record.type


def _key_schema(record: Record) -> dict[str, Any]:
    """The Kafka key: the data field the topic is keyed by, as a string."""
    key = record.topic.key
    field = record.properties.get(key)
    if isinstance(field, dict) and field.get("type") == "string":
        return {**field, "description": f"The record's `data.{key}` (UTF-8), also its "
                                        "CloudEvents `subject`."}
    return {"type": "string", "description": f"The Kafka key: {key}."}


def _message(record: Record) -> dict[str, Any]:
    return {
        "name": record.name,
        "title": record.type,
        "summary": record.description,
        "contentType": CONTENT_TYPE,
        "tags": [{"name": record.domain}, {"name": record.kind}],
        "payload": record.json_schema(),
        "bindings": {"kafka": {
            "key": _key_schema(record),
            "bindingVersion": KAFKA_BINDING_VERSION,
        }},
    }


def _records_of(topic: Topic) -> list[Record]:
    return [r for _, r in sorted(RECORDS.items()) if r.topic == topic]


def _channel(topic: Topic) -> dict[str, Any]:
    return {
        "address": topic.base_name,
        "title": topic.base_name,
        "description": f"{topic.description}. Key: `{topic.key}`. On the broker the topic "
                       "is named with the deployment's `PICASSO_TOPIC_PREFIX` before this "
                       "address (empty by default).",
        "servers": [{"$ref": f"#/servers/{SERVER}"}],
        "messages": {
            _message_id(r): {"$ref": f"#/components/messages/{_message_id(r)}"}
            for r in _records_of(topic)
        },
        "bindings": {"kafka": {"topic": topic.base_name,
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _operations(topic: Topic) -> dict[str, Any]:
    """One operation per kind of record on ``topic``: receive commands, send events."""
    channel = _channel_id(topic)
    operations = {}
    for kind, action in ACTIONS.items():
        records = [r for r in _records_of(topic) if r.kind == kind]
        if not records:
            continue
        names = ", ".join(r.name for r in records)
        operations[f"{action}.{topic.base_name}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"Picasso {action}s {names}",
            "summary": (f"Picasso's services {action} the {kind}s on {topic.base_name}: "
                        f"{names}."),
            "messages": [
                {"$ref": f"#/channels/{channel}/messages/{_message_id(r)}"} for r in records
            ],
        }
    return operations


def asyncapi_document(version: str = "1.0.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and record in :mod:`topics`."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Picasso's Kafka topics",
            "version": version,
            "description": DESCRIPTION,
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {SERVER: {
            "host": "{bootstrap}",
            "protocol": "kafka",
            "description": "The deployment's Kafka cluster.",
            "variables": {"bootstrap": {
                "description": "A bootstrap address (host:port) of the deployment's Kafka "
                               "cluster: its `KAFKA_BOOTSTRAP` setting (README.md, Ports, "
                               "for `make run`).",
            }},
        }},
        "channels": {_channel_id(t): _channel(t) for t in ALL_TOPICS},
        "operations": {op_id: op for t in ALL_TOPICS for op_id, op in _operations(t).items()},
        "components": {
            "messages": {_message_id(r): _message(r) for _, r in sorted(RECORDS.items())},
        },
    }


def write(path: Path) -> None:
    path.write_text(json.dumps(asyncapi_document(), indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        write(Path(sys.argv[1]))
        print(sys.argv[1])
    else:
        print(json.dumps(asyncapi_document(), indent=2))
