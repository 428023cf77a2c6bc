"""The AsyncAPI document of the Kafka topics: valid for the reference AsyncAPI parser, and
complete (every topic, its key, every record with its JSON Schema).

The validator is ``@asyncapi/parser`` (pinned in tests/contracts/asyncapi/package.json,
installed by ``make install``), run by ``validate.mjs`` beside it.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from topics import ALL_TOPICS
from topics.asyncapi import ACTIONS, CONTENT_TYPE, asyncapi_document
from topics.registry import RECORDS

VALIDATOR = Path(__file__).resolve().parents[1] / "contracts" / "asyncapi"


def validate(doc: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the AsyncAPI parser on ``doc``; its exit code says whether it is valid."""
    assert (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "the AsyncAPI parser is not installed: run `make install`")
    node = shutil.which("node")
    assert node, "Node.js is needed to validate the AsyncAPI document"
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(doc))
    return subprocess.run([node, str(VALIDATOR / "validate.mjs"), str(path)], cwd=VALIDATOR,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi_document()


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any], tmp_path: Path) -> None:
    assert doc["asyncapi"] == "3.0.0"
    checked = validate(doc, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(ALL_TOPICS)} channels, {len(RECORDS)} messages" in checked.stdout


@pytest.mark.parametrize("breakage", ["an AsyncAPI 2 action", "a payload of a made-up type",
                                      "a message that is not there"])
def test_the_validator_refuses_a_broken_document(doc: dict[str, Any], tmp_path: Path,
                                                 breakage: str) -> None:
    broken = copy.deepcopy(doc)
    like = broken["components"]["messages"]["picasso.reactions.LikePicture"]
    if breakage == "an AsyncAPI 2 action":
        broken["operations"]["receive.picasso.reactions.commands"]["action"] = "publish"
        where = "operations/receive.picasso.reactions.commands/action"
    elif breakage == "a payload of a made-up type":
        like["payload"]["properties"]["data"]["type"] = "dict"
        where = "payload/properties/data/type"
    else:
        del broken["components"]["messages"]["picasso.reactions.LikePicture"]
        where = "components/messages/picasso.reactions.LikePicture"
    checked = validate(broken, tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert where in checked.stdout


def test_every_topic_is_a_channel_with_its_key(doc: dict[str, Any]) -> None:
    assert set(doc["channels"]) == {t.base_name for t in ALL_TOPICS}
    for topic in ALL_TOPICS:
        channel = doc["channels"][topic.base_name]
        assert channel["address"] == topic.base_name
        assert channel["bindings"]["kafka"]["topic"] == topic.base_name
        assert f"Key: `{topic.key}`" in channel["description"]
        assert "PICASSO_TOPIC_PREFIX" in channel["description"]


def test_every_record_is_a_message_with_its_schema_and_key(doc: dict[str, Any]) -> None:
    messages = doc["components"]["messages"]
    assert set(messages) == set(RECORDS)
    for type_, record in RECORDS.items():
        message = messages[type_]
        assert message["payload"] == record.json_schema()
        assert message["contentType"] == CONTENT_TYPE
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string" and record.topic.key in key["description"]
        channel = doc["channels"][record.topic.base_name]
        assert channel["messages"][type_] == {"$ref": f"#/components/messages/{type_}"}


def test_services_receive_commands_and_send_events(doc: dict[str, Any]) -> None:
    """Each record is in one operation of its channel: received if a command, else sent."""
    operated: dict[str, str] = {}
    for operation in doc["operations"].values():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        for ref in operation["messages"]:
            type_ = ref["$ref"].rsplit("/", 1)[1]
            assert ref["$ref"] == f"#/channels/{channel}/messages/{type_}"
            assert type_ not in operated
            operated[type_] = operation["action"]
            assert RECORDS[type_].topic.base_name == channel
    assert operated == {t: ACTIONS[r.kind] for t, r in RECORDS.items()}
    assert operated["picasso.reactions.LikePicture"] == "receive"
    assert operated["picasso.reactions.PictureLiked"] == "send"
