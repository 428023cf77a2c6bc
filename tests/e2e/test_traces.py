"""Traces and logs end to end: a like and a purchase driven through the session's real edge
and workers (each writing JSON lines to its log file), then followed back with the operator's
command ``python -m picasso.trace <id>``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from deploy.logging.template import fits
from picasso.logging import BASE_KEYS, LOG_FIELDS
from picasso.tracing import TRACE_KEYS
from tests.e2e.test_mail import wait_for_mails
from tests.e2e.test_purchases import settled
from tests.helpers import Api, jpeg_with_gps
from topics.tracecontext import Trace

WAIT_S = 20.0


def trace_command(logs: Path, wanted: str) -> list[dict]:
    """What ``python -m picasso.trace <wanted> --json`` prints, as parsed lines."""
    done = subprocess.run([sys.executable, "-m", "picasso.trace", wanted, "--logs", str(logs),
                           "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def traced_until(logs: Path, wanted: str, *checks) -> list[dict]:
    """The command's lines once each of ``checks`` holds for some line (the services log a
    moment after the edge answers)."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        lines = await asyncio.to_thread(trace_command, logs, wanted)
        if all(any(check(line) for line in lines) for check in checks):
            return lines
        assert asyncio.get_running_loop().time() < deadline, (
            f"the path of {wanted} never showed everything; it has:\n"
            + "\n".join(json.dumps(line) for line in lines))
        await asyncio.sleep(0.3)


def index(lines: list[dict], check, what: str) -> int:
    for n, line in enumerate(lines):
        if check(line):
            return n
    raise AssertionError(f"no line {what} in the path:\n"
                         + "\n".join(json.dumps(line) for line in lines))


def applied(service: str, type_: str):
    return lambda line: (line.get("service") == service and line["event"] == "message_applied"
                         and line.get("type") == type_)


def sent(type_: str):
    return lambda line: (line.get("service") == "edge" and line["event"] == "command_sent"
                         and line.get("type") == type_)


async def test_a_purchase_is_followed_from_the_request_to_the_receipt(
        api: Api, stack, system: str) -> None:
    ada = await api.register("Ada")
    bob = await api.register("Bob")
    picture = await api.published(ada, jpeg_with_gps(64, 48), price_cents=700)
    trace_id, client_span = os.urandom(16).hex(), os.urandom(8).hex()
    request_id = f"buy-{uuid.uuid4().hex[:12]}"
    status, started, answer = await api.call(
        "POST", f"/api/v1/pictures/{picture['picture_id']}/purchases", user=bob,
        json={"payment_method": "pm_card_visa"},
        headers={"traceparent": f"00-{trace_id}-{client_span}-01", "X-Request-ID": request_id})
    assert status == 202, started
    # The answer names the request and our span of the client's trace.
    assert answer.headers["X-Request-ID"] == request_id
    ours = Trace.parse(answer.headers["traceparent"])
    assert ours is not None and ours.trace_id == trace_id and ours.span_id != client_span
    purchase_id = started["purchase_id"]
    assert (await settled(api, bob, purchase_id))["status"] == "completed"
    # The receipt carries the trace of the buyer's request, through Stripe's webhook.
    receipts = (await wait_for_mails(stack.maildir, bob.email, {"receipt"}))["receipt"]
    [receipt] = [m for m in receipts if purchase_id in m.get_body(("plain",)).get_content()]
    assert Trace.parse(receipt["X-Picasso-Trace"]).trace_id == trace_id

    logs = stack.data_dir / "logs"
    mailed = lambda line: line["event"] == "mail_sent" and line.get("kind") == "receipt"  # noqa: E731
    lines = await traced_until(logs, request_id, mailed, applied("purchases",
                                                                 "picasso.payments.PaymentSucceeded"))
    assert [line["timestamp"] for line in lines] == sorted(line["timestamp"] for line in lines)
    assert {line.get("trace_id") for line in lines} == {trace_id}
    assert {"edge", "purchases", "mail"} <= {line["service"] for line in lines}
    assert all(isinstance(line["pid"], int) and line["level"] for line in lines)
    # The path in the order it happened: the request, the purchase command applied, Stripe's
    # webhook at the edge, the payment applied, the receipt sent.
    path = [
        index(lines, sent("picasso.purchases.PurchasePicture"), "sending the purchase"),
        index(lines, applied("purchases", "picasso.purchases.PurchasePicture"),
              "applying the purchase"),
        index(lines, lambda line: line["event"] == "request"
              and line.get("path") == "/api/v1/webhooks/stripe", "of Stripe's webhook"),
        index(lines, applied("purchases", "picasso.payments.PaymentSucceeded"),
              "applying the payment"),
        index(lines, mailed, "sending the receipt"),
    ]
    assert path == sorted(path), path
    request = lines[index(lines, lambda line: line["event"] == "request"
                          and line.get("request_id") == request_id, "of the buyer's request")]
    assert request["service"] == "edge" and request["status"] == 202

    # Asked by the purchase id, the command finds the same path (and the sale's mail too).
    by_purchase = await traced_until(logs, purchase_id, mailed)
    assert {json.dumps(line, sort_keys=True) for line in lines} <= {
        json.dumps(line, sort_keys=True) for line in by_purchase}


async def test_a_like_is_followed_by_its_command_id(api: Api, stack, system: str) -> None:
    ada = await api.register("Ada")
    picture = await api.published(ada, jpeg_with_gps(64, 48))
    pid = picture["picture_id"]
    status, body, answer = await api.call("PUT", f"/api/v1/pictures/{pid}/like", user=ada,
                                          headers={"traceparent": "00-zzz-bad-01"})
    assert status == 202, body
    trace = Trace.parse(answer.headers["traceparent"])
    assert trace is not None  # a bad traceparent from the client: a new trace
    command_id = body["command_id"]
    liked = applied("reactions", "picasso.reactions.LikePicture")
    told = lambda line: line.get("type") == "picasso.reactions.PictureLiked"  # noqa: E731
    lines = await traced_until(stack.data_dir / "logs", command_id, liked, told)
    assert {line.get("trace_id") for line in lines} == {trace.trace_id}
    [like] = [line for line in lines if liked(line)]
    assert like["command_id"] == command_id and like["subject"] == pid
    assert like["request_id"] == answer.headers["X-Request-ID"]
    # The edge sent it before the service applied it and before anyone applied the event it
    # caused. (The service writes its line once its whole batch is done, after the batch's
    # events are out, so a consumer's line may come before it.)
    first_told = index(lines, lambda line: told(line) and line["event"] == "message_applied",
                       "applying PictureLiked")
    sending = index(lines, sent("picasso.reactions.LikePicture"), "sending the like")
    assert sending < index(lines, liked, "applying the like") and sending < first_told
    assert lines[first_told]["command_id"] in like["caused"]


def test_every_line_a_worker_and_the_edge_wrote_is_json(stack, system: str) -> None:
    """Faust's, aiokafka's and aiohttp's lines too: every line but the launcher's
    ``--- starting`` header; and the fields the log store's index template maps hold values
    of the mapped types (deploy/logging)."""
    logs = stack.data_dir / "logs"
    seen: set[str] = set()
    for name in ("edge-1", "reactions-1", "purchases-1", "mail-1"):
        text = (logs / f"{name}.log").read_text()
        lines = [line for line in text.splitlines() if line and not line.startswith("--- ")]
        assert lines, name
        bad = [line for line in lines if not _json_object(line)]
        assert not bad, f"{name}: lines that are not JSON:\n" + "\n".join(bad[:10])
        docs = [json.loads(line) for line in lines]
        if name != "edge-1":
            loggers = {doc.get("logger") for doc in docs}
            assert any(str(n).startswith(("faust", "mode")) for n in loggers), loggers
        for doc in docs:
            seen |= doc.keys()
            for key in doc.keys() & LOG_FIELDS.keys():
                assert fits(LOG_FIELDS[key], doc[key]), (name, key, doc)
    assert {*BASE_KEYS, *TRACE_KEYS, "logger", "command_id", "subject", "type", "caused",
            "method", "path", "status", "ms"} <= seen


def _json_object(line: str) -> bool:
    try:
        doc = json.loads(line)
    except ValueError:
        return False
    return isinstance(doc, dict) and set(BASE_KEYS) <= doc.keys()
