"""deploy/logging: Fluent Bit's configuration and the index template, checked against the
JSON lines Picasso's processes really write."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from deploy.logging.template import (
    INDEX_PREFIX,
    SHIPPER_PATH,
    SHIPPER_TIME_FIELD,
    SHIPPER_TIME_FORMAT,
    TEMPLATE_PATH,
    fits,
    index_template,
    render,
)
from picasso.logging import BASE_KEYS, LOG_FIELDS
from picasso.tracing import TRACE_KEYS


@pytest.fixture(scope="module")
def shipper() -> dict:
    return yaml.safe_load(SHIPPER_PATH.read_text())


def test_the_committed_template_is_the_rendered_one() -> None:
    assert TEMPLATE_PATH.read_text() == render(), "run python -m deploy.logging.template"
    mapped = index_template()["template"]["mappings"]["properties"]
    assert set(LOG_FIELDS) | {SHIPPER_TIME_FIELD, "kubernetes"} == set(mapped)
    assert {*BASE_KEYS, *TRACE_KEYS} <= set(LOG_FIELDS)


def test_fluent_bit_reads_our_lines_and_writes_where_the_template_applies(shipper) -> None:
    [parser] = [p for p in shipper["parsers"] if p["name"] == "picasso-json"]
    assert parser["format"] == "json" and parser["time_key"] == "timestamp"
    assert parser["time_format"] == SHIPPER_TIME_FORMAT
    pipeline = shipper["pipeline"]
    [tail] = pipeline["inputs"]
    assert tail["name"] == "tail" and tail["path"].startswith("/var/log/containers/")
    for step in [*pipeline["filters"], *pipeline["outputs"]]:
        assert fnmatch.fnmatch(tail["tag"].replace("*", "x"), step["match"]), step["name"]
    [lift] = [f for f in pipeline["filters"] if f["name"] == "parser"]
    assert lift["parser"] == parser["name"] and lift["key_name"] == "log"
    [out] = pipeline["outputs"]
    assert out["name"] == "opensearch" and out["logstash_format"] is True
    assert out["time_key"] == SHIPPER_TIME_FIELD
    assert out["logstash_prefix"] == INDEX_PREFIX
    daily = f"{out['logstash_prefix']}-2026.12.02"  # Logstash_Format's daily index name
    assert any(fnmatch.fnmatch(daily, p) for p in index_template()["index_patterns"])
    # Settings come from the environment, never written into the file.
    assert out["http_passwd"] == "${OPENSEARCH_PASSWORD}"


def test_the_lines_a_process_writes_have_the_mapped_fields_and_types() -> None:
    """A process logs the way the runtime and the edge do; each line's fields are mapped,
    with values of the mapped type."""
    script = textwrap.dedent("""
        import logging, structlog
        from picasso.logging import configure
        from picasso.settings import Settings
        from picasso.tracing import bound
        from topics.envelope import CloudEvent
        from topics.tracecontext import Trace
        configure(Settings.from_env({"PICASSO_ENV": "test"}), "purchases")
        log = structlog.get_logger()
        event = CloudEvent(type="picasso.purchases.PurchasePicture", subject="p1", data={},
                           source="/s").traced(Trace.new(), "req-1")
        with bound(event):
            log.bind(agent="purchases", command_id=event.id, type=event.type,
                     subject=event.subject).info("message_applied", caused=["e1"], ms=1.5)
            log.info("request", method="POST", path="/api/v1/x", status=202, ms=3)
            log.warning("dead_lettered", agent="a", topic="t", partition=0, offset=12,
                        reason="bad")
            logging.getLogger("aiokafka").error("lost %s", "it")
            try:
                {}["x"]
            except KeyError:
                log.exception("message_failed")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert len(lines) == 5
    for line in lines:
        assert set(BASE_KEYS) <= set(line), line
        assert set(line) <= set(LOG_FIELDS), set(line) - set(LOG_FIELDS)
        for key, value in line.items():
            assert fits(LOG_FIELDS[key], value), (key, value)
