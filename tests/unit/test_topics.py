"""The Kafka contract: one name per topic, schemas in sync, messages parsed or refused."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from picasso.imageformat import SNIFF_BYTES, sniff_format
from topics import ALL_TOPICS
from topics.envelope import CloudEvent, InvalidMessage, derived_id
from topics.pictures import IMAGE_FORMATS, UPLOAD_PICTURE
from topics.purchases import PAYMENT_FAILED, decline_reason
from topics.reactions import LIKE_PICTURE, UNLIKE_PICTURE
from topics.registry import RECORDS, SCHEMA_DIR, parse, validate_data


def test_topic_names_are_unique_and_prefixable() -> None:
    names = [t.name() for t in ALL_TOPICS]
    assert len(set(names)) == len(names)
    assert all(n.startswith("picasso.") for n in names)
    assert ALL_TOPICS[0].name("t1.") == "t1." + ALL_TOPICS[0].base_name


def test_committed_schema_files_match_the_records() -> None:
    on_disk = {p.stem: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == {t: r.json_schema() for t, r in RECORDS.items()}, "run `make schemas`"


def test_a_like_from_any_producer_parses() -> None:
    raw = json.dumps({
        "specversion": "1.0", "id": "c1", "source": "/elsewhere",
        "type": "picasso.reactions.LikePicture",
        "data": {"picture_id": "p1", "user_id": "u1"},
    })
    record, event = parse(raw.encode(), [LIKE_PICTURE, UNLIKE_PICTURE])
    assert record is LIKE_PICTURE
    assert event.subject == "p1"  # the key, when the producer left subject out
    assert event.data == {"picture_id": "p1", "user_id": "u1"}


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty message"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"type": "picasso.reactions.Boo"}', "unexpected type"),
    (b'{"specversion": "1.0", "id": "c", "source": "s", "type": '
     b'"picasso.reactions.LikePicture", "data": {"picture_id": "p"}}', "data"),
    (b'{"specversion": "1.0", "id": "c", "source": "s", "type": '
     b'"picasso.reactions.LikePicture", "data": {"picture_id": "p", "user_id": 5}}',
     "data/user_id"),
])
def test_bad_messages_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse(raw, [LIKE_PICTURE, UNLIKE_PICTURE])
    assert reason in caught.value.reason


def test_upload_schema_rules() -> None:
    good = {"picture_id": "p", "owner_id": "u", "blob_key": "incoming/u/p", "title": "t",
            "price_cents": 0, "currency": "usd"}
    validate_data(UPLOAD_PICTURE, good)
    for bad in ({**good, "price_cents": 10}, {**good, "blob_key": "originals/p"},
                {**good, "blob_key": "incoming/../originals/p"},
                {**good, "blob_key": "incoming/u/../../originals/p"},
                {**good, "blob_key": "incoming/p"}, {**good, "picture_id": "../p"},
                {**good, "owner_id": "u/v"},
                {**good, "title": ""}, {**good, "extra": 1}):
        with pytest.raises(InvalidMessage):
            validate_data(UPLOAD_PICTURE, bad)


def test_caused_events_have_stable_ids() -> None:
    command = CloudEvent(type=LIKE_PICTURE.type, subject="p", data={}, source="/t")
    first = command.caused("picasso.reactions.PictureLiked", {"a": 1}, "/agent")
    again = command.caused("picasso.reactions.PictureLiked", {"a": 1}, "/agent")
    assert first.id == again.id == derived_id(command.id, "picasso.reactions.PictureLiked")
    assert first.subject == "p"


@pytest.mark.parametrize("fmt", IMAGE_FORMATS)
def test_every_format_the_contract_publishes_is_recognised(fmt: str) -> None:
    encoded = io.BytesIO()
    Image.new("RGB", (2, 2)).save(encoded, fmt.upper())
    head = encoded.getvalue()[:SNIFF_BYTES]
    assert sniff_format(head) == fmt
    assert Image.open(encoded).get_format_mimetype() == IMAGE_FORMATS[fmt]


@pytest.mark.parametrize("parts, reason", [
    (("Your card has insufficient funds.", "card_declined", "insufficient_funds"),
     "Your card has insufficient funds. (card_declined: insufficient_funds)"),
    (("Your card was declined.", "card_declined", "card_declined"),
     "Your card was declined. (card_declined)"),
    ((None, "expired_card", None), "the payment failed (expired_card)"),
    ((None, None, None), "the payment failed"),
])
def test_a_declined_payments_reason(parts: tuple, reason: str) -> None:
    assert decline_reason(*parts) == reason
    validate_data(PAYMENT_FAILED, {"purchase_id": "b1", "payment_intent_id": "pi_1",
                                   "reason": reason})
