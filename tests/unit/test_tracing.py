"""Trace context on messages, JSON log lines from every logger, and the path command's
reading of a log directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from picasso.trace import find, main
from topics.envelope import CloudEvent
from topics.reactions import LIKE_PICTURE, PICTURE_LIKED
from topics.registry import parse
from topics.tracecontext import Trace, span_of, valid_correlation_id

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("header, good", [
    (f"00-{TRACE}-00f067aa0ba902b7-01", True),
    (f"00-{TRACE.upper()}-00F067AA0BA902B7-00", True),  # read in lower case
    (f"00-{'0' * 32}-00f067aa0ba902b7-01", False),  # all-zero trace id
    (f"00-{TRACE}-{'0' * 16}-01", False),
    (f"01-{TRACE}-00f067aa0ba902b7-01", False),  # only version 00 is known
    (f"00-{TRACE}-00f067aa0ba902b7", False),
    ("00-zzz-bad-01", False), ("", False), (None, False),
])
def test_traceparent_headers_are_read_or_refused(header: str | None, good: bool) -> None:
    trace = Trace.parse(header)
    assert (trace is not None) is good
    if good:
        assert trace.traceparent == header.lower()


def test_a_new_trace_and_its_hops() -> None:
    trace = Trace.new()
    assert Trace.parse(trace.traceparent) == trace
    child = trace.child()
    assert child.trace_id == trace.trace_id and child.span_id != trace.span_id


def test_random_ids_are_never_handed_out_twice_nor_by_a_forked_child() -> None:
    """Ids are cut from a pool of random bytes: across many refills none repeats, and a
    forked child starts a pool of its own instead of handing out its parent's next ids."""
    made = [Trace.new() for _ in range(3000)]  # 24 bytes each: about 18 pools
    ids = [t.trace_id for t in made] + [t.span_id for t in made]
    assert len(set(ids)) == len(ids)
    assert all(len(t.trace_id) == 32 and len(t.span_id) == 16 for t in made)
    assert all(int(t.trace_id, 16) >= 0 for t in made[:10])
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next trace id, to the parent
        os.write(writer, Trace.new().trace_id.encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    childs = os.read(reader, 64).decode()
    os.close(reader)
    assert len(childs) == 32 and childs != Trace.new().trace_id


def test_correlation_ids_are_plain() -> None:
    assert valid_correlation_id("buy-1a2b.c:3") == "buy-1a2b.c:3"
    for bad in ("", "a b", "x" * 129, "a\nb", "ü", None):
        assert valid_correlation_id(bad) is None


def test_caused_events_carry_the_commands_trace_with_spans_of_their_own() -> None:
    trace = Trace(TRACE, "00f067aa0ba902b7")
    command = CloudEvent(type=LIKE_PICTURE.type, subject="p", data={}, source="/t").traced(
        trace, "req-1")
    assert command.trace.trace_id == TRACE and command.trace.span_id == span_of(command.id)
    event = command.caused(PICTURE_LIKED.type, {}, "/agent")
    assert event.trace.trace_id == TRACE and event.correlationid == "req-1"
    assert event.trace.span_id not in (command.trace.span_id, trace.span_id)
    # The same event made again (a redelivery) is the same span.
    assert command.caused(PICTURE_LIKED.type, {}, "/agent").traceparent == event.traceparent
    # An event made without caused() takes the trace from its cause; one of its own stays.
    made = CloudEvent(type=PICTURE_LIKED.type, subject="p", data={}, source="/a")
    assert made.traced_by(command).trace.trace_id == TRACE
    other = made.traced(Trace.new(), None)
    assert other.traced_by(command) is other
    untraced = CloudEvent(type=LIKE_PICTURE.type, subject="p", data={}, source="/t")
    assert made.traced_by(untraced) is made and "traceparent" not in made.to_dict()


def test_the_extension_attributes_travel_and_are_checked() -> None:
    data = {"picture_id": "p1", "user_id": "u1"}
    command = CloudEvent(type=LIKE_PICTURE.type, subject="p1", data=data, source="/t").traced(
        Trace(TRACE, "00f067aa0ba902b7"), "req-1")
    _, parsed = parse(command.to_json(), [LIKE_PICTURE])
    assert parsed == command
    doc = command.to_dict()
    for name, bad in (("traceparent", "00-nope"), ("correlationid", "has spaces")):
        with pytest.raises(Exception) as caught:
            parse(json.dumps({**doc, name: bad}), [LIKE_PICTURE])
        assert name in str(caught.value)


def test_every_logger_writes_json_lines_naming_the_process_and_the_trace() -> None:
    """structlog's lines and the standard library's (aiokafka, aiohttp, Faust) alike."""
    script = textwrap.dedent(f"""
        import logging, structlog
        from picasso.logging import configure
        from picasso.settings import Settings
        from picasso.tracing import bound
        from topics.envelope import CloudEvent
        from topics.tracecontext import Trace
        configure(Settings.from_env({{"PICASSO_ENV": "test"}}), "reactions")
        event = CloudEvent(type="t", subject="s", data={{}}, source="/s").traced(
            Trace("{TRACE}", "00f067aa0ba902b7"), "req-9")
        with bound(event, command_id=event.id):
            structlog.get_logger().info("ours", n=1)
            logging.getLogger("aiokafka.consumer").warning("theirs %s", "formatted")
            logging.getLogger("faust.worker").info("[^Worker]: Ready")
            try:
                1 / 0
            except ZeroDivisionError:
                structlog.get_logger().exception("failed")
        logging.getLogger("aiokafka").info("quiet below warning")
        structlog.get_logger().info("after")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["event"] for line in lines] == [
        "ours", "theirs formatted", "[^Worker]: Ready", "failed", "after"]
    for line in lines:
        assert line["service"] == "reactions" and isinstance(line["pid"], int)
        assert line["timestamp"].endswith("Z") and line["level"]
    for line in lines[:4]:
        assert line["trace_id"] == TRACE and line["request_id"] == "req-9"
    assert "trace_id" not in lines[4]
    assert lines[1]["logger"] == "aiokafka.consumer" and lines[1]["level"] == "warning"
    assert "ZeroDivisionError" in lines[3]["exception"]


def test_the_lines_of_an_edge_request_carry_its_trace_and_no_other_task_does() -> None:
    """The edge starts a request's trace once (picasso.tracing.start_request) and every line
    logged while it answers, structlog's or a library's, carries it; a webhook that
    continues an earlier trace changes the lines after it; lines outside the request do not
    carry it."""
    script = textwrap.dedent(f"""
        import asyncio, logging, structlog
        from picasso.logging import configure
        from picasso.settings import Settings
        from picasso.tracing import continue_trace, current, identify, start_request
        configure(Settings.from_env({{"PICASSO_ENV": "test"}}), "edge")
        log = structlog.get_logger()
        async def request(traceparent, request_id):
            traced = start_request(traceparent, request_id)
            log.info("ours")
            logging.getLogger("aiohttp.server").warning("theirs")
            log.info("given", request_id="mine")
            identify("user-" + traced.request_id)
            assert current() is traced and traced.trace.traceparent == traced.traceparent
            if continue_trace("00-{"c" * 32}-00f067aa0ba902b7-01", "buy-1"):
                log.info("continued")
        async def main():
            await asyncio.gather(asyncio.create_task(request(None, None)),
                                 asyncio.create_task(request(
                                     "00-{TRACE}-00f067aa0ba902b7-01", "req-7")))
            log.info("outside")
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert [line["event"] for line in lines] == [
        "ours", "theirs", "given", "continued", "ours", "theirs", "given", "continued",
        "outside"]
    new, continued = lines[:4], lines[4:8]
    assert len({line["trace_id"] for line in new[:3]}) == 1 and new[0]["trace_id"] != TRACE
    assert len(new[0]["trace_id"]) == 32 and len(new[0]["span_id"]) == 16
    assert new[1]["request_id"] == new[0]["request_id"] != "req-7"
    assert [line["trace_id"] for line in continued[:3]] == [TRACE] * 3
    assert {line["span_id"] for line in continued[:3]} != {"00f067aa0ba902b7"}
    assert [line["request_id"] for line in continued[:3]] == ["req-7", "req-7", "mine"]
    assert new[2]["request_id"] == "mine"
    # continue_trace: the webhook's trace from there on, a span of ours, the given id,
    # the caller as known before.
    for line, request in ((new[3], new[0]), (continued[3], continued[0])):
        assert line["trace_id"] == "c" * 32 and line["request_id"] == "buy-1"
        assert line["span_id"] != "00f067aa0ba902b7"
        assert line["user_id"] == "user-" + request["request_id"]
    assert not any("user_id" in line for line in lines[:3] + lines[4:7])
    assert not {"trace_id", "span_id", "request_id", "user_id"} & lines[8].keys()


def _write(path: Path, *docs: dict | str) -> None:
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n"
                            for d in docs))


def test_the_path_command_follows_an_id_into_its_traces(tmp_path: Path, capsys) -> None:
    a, b = "a" * 32, "b" * 32
    _write(tmp_path / "edge-1.log",
           "--- 2026-12-02 18:00:00 starting edge-1: python -m web",
           {"timestamp": "2026-12-02T18:00:01.000002Z", "event": "command_sent",
            "service": "edge", "request_id": "r1", "trace_id": a, "command_id": "c1",
            "subject": "pic-1"},
           {"timestamp": "2026-12-02T18:00:01.000003Z", "event": "request", "service": "edge",
            "request_id": "r1", "trace_id": a, "path": "/api/v1/pictures/pic-1/like"},
           {"timestamp": "2026-12-02T18:00:02Z", "event": "request", "service": "edge",
            "request_id": "r2", "trace_id": b},
           "a traceback line naming c1 that is not JSON")
    _write(tmp_path / "reactions-1.log.1",
           {"timestamp": "2026-12-02T18:00:01.5Z", "event": "message_applied",
            "service": "reactions", "command_id": "c1", "trace_id": a, "caused": ["e1"]})
    _write(tmp_path / "mail-1.log",
           {"timestamp": "2026-12-02T18:00:01.7Z", "event": "mail_sent", "service": "mail",
            "event_id": "e1", "trace_id": a},
           {"timestamp": "2026-12-02T18:00:01.8Z", "event": "unrelated", "service": "mail"})
    for wanted in ("r1", "c1", a, "pic-1"):
        assert [(line.process, line.doc["event"]) for line in find(wanted, tmp_path)] == [
            ("edge-1", "command_sent"), ("edge-1", "request"),
            ("reactions-1", "message_applied"), ("mail-1", "mail_sent")], wanted
    # An event id found only in a list still leads to its trace.
    assert len(find("e1", tmp_path)) == 4
    assert [line.doc["request_id"] for line in find("r2", tmp_path)] == ["r2"]
    assert main(["nothing-like-it", "--logs", str(tmp_path)]) == 1
    assert main(["r1", "--logs", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and out[0].startswith("2026-12-02T18:00:01.000002Z  edge-1")
    assert "command_sent" in out[0] and "request_id=r1" in out[0]
    assert main(["r1", "--logs", str(tmp_path / "missing")]) == 2
