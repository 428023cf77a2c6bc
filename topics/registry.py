"""Every record type by its CloudEvents ``type``, schema validation and the schema files."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Iterable

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker

from topics import comments, deadletter, pictures, purchases, reactions, social, users
from topics import notifications as notices
from topics.envelope import CloudEvent, InvalidMessage, decode
from topics.record import Record

RECORDS: dict[str, Record] = {
    r.type: r
    for r in (
        *pictures.RECORDS, *reactions.RECORDS, *purchases.RECORDS, *users.RECORDS,
        *social.RECORDS, *comments.RECORDS, *notices.RECORDS, *deadletter.RECORDS,
    )
}
SCHEMA_DIR = Path(__file__).parent / "schemas"


@cache
def _validator(type_: str) -> Draft202012Validator:
    return Draft202012Validator(RECORDS[type_].json_schema(), format_checker=FormatChecker())


@cache
def _fast_validator(type_: str) -> jsonschema_rs.Draft202012Validator:
    """The same schema compiled by jsonschema-rs, about 500 times faster than jsonschema on
    our messages (about 1 ms each, which bounded every batching agent). It only says
    whether a message is valid: one it refuses is checked again by jsonschema, whose
    verdict and message stand, so a reason on the dead-letter topic reads as it always did
    and the stricter of the two never refuses what the other accepts."""
    return jsonschema_rs.Draft202012Validator(RECORDS[type_].json_schema(),
                                              validate_formats=True)


def parse(raw: bytes | str | None, accepted: Iterable[Record]) -> tuple[Record, CloudEvent]:
    """Decode and validate one message that must be one of ``accepted``.

    Raises :class:`InvalidMessage` with a reason fit for the dead-letter topic.
    """
    doc = decode(raw)
    type_ = doc.get("type")
    allowed = {r.type: r for r in accepted}
    if type_ not in allowed:
        raise InvalidMessage(
            f"unexpected type {type_!r}; this topic accepts {', '.join(sorted(allowed))}"
        )
    errors = [] if _fast_validator(type_).is_valid(doc) else sorted(
        _validator(type_).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(message)"
        raise InvalidMessage(f"{type_} does not match its schema at {where}: {first.message}")
    record = allowed[type_]
    event = CloudEvent.from_dict(doc)
    if not event.subject:  # CloudEvents makes subject optional; ours is the record's key
        event = replace(event, subject=str(event.data.get(record.topic.key, "")))
    return record, event


def validate_data(record: Record, data: dict) -> None:
    """Check ``data`` against ``record``'s schema before sending it; raises InvalidMessage."""
    event = CloudEvent(type=record.type, subject="x", data=data, source="check")
    parse(event.to_json(), [record])


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one JSON Schema file per record type into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for type_, record in sorted(RECORDS.items()):
        path = directory / f"{type_}.json"
        path.write_text(json.dumps(record.json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_schemas(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        print(p)
