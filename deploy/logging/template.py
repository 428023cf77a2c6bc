"""The index template of Picasso's log lines, rendered from :data:`picasso.logging.LOG_FIELDS`.

``python -m deploy.logging.template`` writes ``deploy/logging/index-template.json``; a test
checks that the committed file is what this renders. Install it once per cluster (the same
body for OpenSearch and Elasticsearch)::

    curl -X PUT "$OPENSEARCH_URL/_index_template/picasso-logs" \\
         -H 'Content-Type: application/json' -d @deploy/logging/index-template.json

Fluent Bit (``deploy/logging/fluent-bit.yaml``) writes one index a day,
``picasso-logs-YYYY.MM.DD``, which the template's pattern matches.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from picasso.logging import LOG_FIELDS

HERE = Path(__file__).parent
TEMPLATE_PATH = HERE / "index-template.json"
SHIPPER_PATH = HERE / "fluent-bit.yaml"
INDEX_PREFIX = "picasso-logs"
# Fluent Bit's own time field, set from each line's ``timestamp``.
SHIPPER_TIME_FIELD = "@timestamp"
KEYWORD_MAX = 1024  # longer strings are kept in _source but not indexed
# The lines' "timestamp" as Fluent Bit's parser reads it (strptime, %L: the fraction), and
# the same for Python's strptime.
SHIPPER_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%LZ"
PYTHON_TIME_FORMAT = SHIPPER_TIME_FORMAT.replace("%L", "%f")


def _field(kind: str) -> dict[str, Any]:
    if kind == "keyword":
        return {"type": "keyword", "ignore_above": KEYWORD_MAX}
    if kind == "date":
        return {"type": "date", "format": "strict_date_optional_time"}
    if kind == "event":
        return {"type": "keyword", "ignore_above": KEYWORD_MAX,
                "fields": {"text": {"type": "text"}}}
    return {"type": kind}


def index_template() -> dict[str, Any]:
    """The composable index template of the ``picasso-logs-*`` indices."""
    properties = {name: _field("event" if name == "event" else kind)
                  for name, kind in LOG_FIELDS.items()}
    properties[SHIPPER_TIME_FIELD] = _field("date")
    # Where the line came from in the cluster (Fluent Bit's kubernetes filter).
    properties["kubernetes"] = {"properties": {
        name: _field("keyword")
        for name in ("namespace_name", "pod_name", "container_name", "host")}}
    return {
        "index_patterns": [f"{INDEX_PREFIX}-*"],
        "priority": 200,
        "_meta": {"description": "Picasso's JSON log lines (picasso.logging); rendered by "
                                 "python -m deploy.logging.template"},
        "template": {
            "settings": {
                "index.number_of_shards": 1,
                "index.refresh_interval": "5s",
                # A field that holds a number in one line and text in another keeps the
                # line: the odd value is left unindexed.
                "index.mapping.ignore_malformed": True,
                "index.mapping.total_fields.limit": 500,
            },
            "mappings": {
                "dynamic": True,
                "date_detection": False,
                "dynamic_templates": [{"strings_as_keywords": {
                    "match_mapping_type": "string",
                    "mapping": _field("keyword"),
                }}],
                "properties": properties,
            },
        },
    }


def fits(kind: str, value: Any) -> bool:
    """Whether a log line's ``value`` is indexed as the ``kind`` the template maps it to."""
    if kind in ("keyword", "text"):
        return isinstance(value, str) or (isinstance(value, list)
                                          and all(isinstance(v, str) for v in value))
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        try:
            datetime.strptime(value, PYTHON_TIME_FORMAT)
        except (TypeError, ValueError):
            return False
        return True
    raise ValueError(f"unknown kind {kind!r}")


def render() -> str:
    return json.dumps(index_template(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE_PATH
    path.write_text(render())
    print(path)
