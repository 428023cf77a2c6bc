"""The operator's tools' own rules: which dead letters a choice takes, when a letter alone
can be replayed, and how the uploads records make a picture's document."""

from __future__ import annotations

import hashlib

from agents.uploads.rebuild import _fold
from picasso.ops.deadletters import Choice, Letter, whole_payload
from picasso.runtime import dead_letter_data
from topics.deadletter import PAYLOAD_EXCERPT_BYTES
from topics.envelope import CloudEvent
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED


def letter(raw: bytes, reason: str = "no such picture", time: str = "2026-12-01T10:00:00.000Z",
           topic: str = "picasso.comments.commands") -> Letter:
    data = dead_letter_data("comments", reason, raw, b"k", topic, 1, 7, None)
    return Letter(f"{topic}/1/7", time, data)


COMMENT = CloudEvent(type="picasso.comments.AddComment", subject="p", data={"x": 1},
                     source="/t").to_json()


def test_a_choice_takes_every_condition_given() -> None:
    one = letter(COMMENT)
    assert one.original_type == "picasso.comments.AddComment"
    assert Choice()(one)
    assert Choice(types=("AddComment",), reason="NO SUCH")(one)
    assert Choice(types=("picasso.comments.AddComment",))(one)
    assert not Choice(types=("Comment",))(one)  # a whole part of the name, not any suffix
    assert not Choice(types=("AddComment",), reason="other")(one)
    assert Choice(since="2026-12-01T09:00:00.000Z", until="2026-12-01T10:00:00.000Z")(one)
    assert not Choice(since="2026-12-01T10:00:00.001Z")(one)
    assert not Choice(topics=("picasso.pictures.commands",))(one)
    assert Choice(ids=("picasso.comments.commands/1/7",), agents=("comments",))(one)
    assert letter(b"\xff not json").original_type is None


def test_any_bytes_dead_lettered_are_listed() -> None:
    """A fuzzer's message nested deeper than Python's JSON decoder goes is listed and
    chosen by its other fields, like any other, instead of stopping the command."""
    deep = letter(b"[" * 100_000 + b"]" * 100_000)
    assert deep.original_type is None
    assert letter(b'{"type": ' + b"9" * 5000 + b"}").original_type is None  # too long an int
    assert Choice(reason="no such")(deep)
    assert not Choice(types=("AddComment",))(deep)
    assert "type=-" in deep.line()


def test_a_letter_alone_is_replayable_only_when_it_holds_the_whole_message() -> None:
    assert whole_payload(letter(COMMENT)) == COMMENT
    assert hashlib.sha256(COMMENT).hexdigest() == letter(COMMENT).data["payload_sha256"]
    assert whole_payload(letter(b"x" * (PAYLOAD_EXCERPT_BYTES + 1))) is None  # cut
    assert whole_payload(letter(b"caf\xe9")) is None  # not UTF-8: the excerpt is not it


def record(command_id: str, time: str, applied_at: str, *events: tuple) -> dict:
    return {"_id": command_id, "subject": "p1", "time": time, "applied_at": applied_at,
            "events": [{"type": t.type, "time": applied_at, "data": {"picture_id": "p1",
                                                                      "owner_id": "o", **d}}
                       for t, d in events]}


PUBLISHED = {"currency": "usd", "title": "T", "description": "", "price_cents": 0,
             "tags": ["sea"], "created_at": "2026-12-01T10:00:00.000Z", "width": 64,
             "height": 48, "format": "jpeg", "original_key": "originals/p1",
             "thumbnail_key": "public/p1/thumbnail.jpg", "preview_key": "public/p1/preview.jpg"}


def test_a_picture_is_its_publication_then_its_changes_then_its_deletion() -> None:
    made = _fold([
        record("c1", "2026-12-01T10:00:00.000Z", "2026-12-01T10:00:01.000Z",
               (PICTURE_PUBLISHED, PUBLISHED)),
        record("c2", "2026-12-01T10:01:00.000Z", "2026-12-01T10:01:00.100Z",
               (PICTURE_UPDATED, {"title": "U"})),
        record("c3", "2026-12-01T10:02:00.000Z", "2026-12-01T10:02:00.100Z",
               (PICTURE_UPDATED, {})),  # nothing changed: no updated_at either
        record("c4", "2026-12-01T10:03:00.000Z", "2026-12-01T10:03:00.100Z",
               (PICTURE_DELETED, {})),
    ])["p1"].doc
    assert made["title"] == "U" and made["tags"] == ["sea"]
    assert made["updated_at"] == "2026-12-01T10:01:00.000Z"  # the command's time
    assert made["status"] == "deleted" and made["deleted_at"] == "2026-12-01T10:03:00.000Z"
    assert made["upload_command_id"] == "c1" and made["content_type"] == "image/jpeg"


def test_a_change_applied_while_the_upload_was_processed_stays() -> None:
    made = _fold([
        record("c2", "2026-12-01T10:00:01.000Z", "2026-12-01T10:00:01.100Z",
               (PICTURE_UPDATED, {"title": "Early"})),
        record("c1", "2026-12-01T10:00:00.000Z", "2026-12-01T10:00:02.000Z",
               (PICTURE_PUBLISHED, PUBLISHED)),
    ])["p1"].doc
    assert made["title"] == "Early" and made["status"] == "published"
    assert made["updated_at"] == "2026-12-01T10:00:01.000Z"
