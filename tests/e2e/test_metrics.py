"""Metrics end to end: the session's Prometheus scrapes the edge and every worker, and finds
each process's series after some traffic; each worker answers its probes."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import aiohttp
import pytest

from deploy.local.processes import Edge, ProcessError, Worker
from deploy.local.run import scrape
from deploy.local.stack import Stack
from picasso.settings import Settings
from tests.helpers import Api, produce
from topics import REACTIONS_COMMANDS

# Targets are re-read when their file changes, then scraped every 5 s: well within this.
WAIT_S = 60.0


async def query(http: aiohttp.ClientSession, prometheus: str, expr: str) -> list[dict]:
    async with http.get(f"{prometheus}/api/v1/query", params={"query": expr}) as answer:
        body = await answer.json()
    assert answer.status == 200 and body["status"] == "success", body
    return body["data"]["result"]


async def until(http: aiohttp.ClientSession, prometheus: str, expr: str, found,
                what: str) -> list[dict]:
    """Query ``expr`` until ``found(result)`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        result = await query(http, prometheus, expr)
        if found(result):
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what}: {expr} gave {result}")
        await asyncio.sleep(0.5)


async def test_workers_answer_their_probes(workers: dict[str, Worker]) -> None:
    async with aiohttp.ClientSession() as http:
        for worker in workers.values():
            async with http.get(f"{worker.metrics_url}/healthz") as answer:
                assert answer.status == 200, worker.name
            async with http.get(f"{worker.metrics_url}/readyz") as answer:
                body = await answer.json()
                assert answer.status == 200 and body == {"ready": True, "checks": {
                    "consumer": "ok", "broker": "ok", "mongodb": "ok"}}, (worker.name, body)
            async with http.get(f"{worker.metrics_url}/metrics") as answer:
                text = await answer.text()
                assert answer.status == 200 and answer.content_type == "text/plain"
                assert 'picasso_ready{dependency="mongodb"} 1.0' in text, worker.name


async def test_prometheus_scrapes_every_edge_and_worker(
        stack: Stack, edge: Edge, workers: dict[str, Worker], api: Api,
        settings: Settings) -> None:
    scrape(stack.data_dir, list(workers.values()), [edge])
    prometheus = f"http://127.0.0.1:{stack.ports['prometheus']}"
    # Traffic: a sign-up (users, mail and others apply its events) and a message that
    # does not parse (the reactions agent dead-letters it).
    await api.register("Metrics")
    await produce(settings.kafka_bootstrap, REACTIONS_COMMANDS.name(settings.topic_prefix),
                  b"{not json", uuid.uuid4().hex.encode())
    expected = {edge.address: "edge", **{w.metrics_address: "worker" for w in workers.values()}}
    async with aiohttp.ClientSession() as http:
        up = await until(
            http, prometheus, "up",
            lambda r: {s["metric"]["instance"]: s["value"][1] for s in r}
            == dict.fromkeys(expected, "1"), "every target up")
        assert {s["metric"]["instance"]: s["metric"]["job"] for s in up} == expected
        # Each worker's own series, labelled with its service.
        ready = await until(
            http, prometheus, 'min by (service) (picasso_ready{job="worker"})',
            lambda r: len(r) == len(workers), "every worker's readiness")
        assert {s["metric"]["service"]: s["value"][1] for s in ready} == dict.fromkeys(
            workers, "1")
        await until(http, prometheus,
                    'sum by (service) (picasso_messages_applied_total{service="users"})',
                    lambda r: r and float(r[0]["value"][1]) >= 1, "the users service applied")
        await until(http, prometheus,
                    'picasso_messages_dead_lettered_total{service="reactions",type="unknown"}',
                    lambda r: r and float(r[0]["value"][1]) >= 1, "the dead letter counted")
        await until(http, prometheus, 'picasso_batch_size_count{service="reactions"}',
                    lambda r: r and float(r[0]["value"][1]) >= 1, "the batch observed")
        # The edge (multiprocess mode): its requests, and one start time per live edge.
        await until(http, prometheus,
                    'sum(picasso_http_requests_total{job="edge",'
                    'route="/api/v1/auth/register",status="201"})',
                    lambda r: r and float(r[0]["value"][1]) >= 1, "the sign-up counted")
        started = await until(http, prometheus,
                              'picasso_process_started_time_seconds{job="edge"}',
                              lambda r: len(r) == 1, "the edge's start time")
        assert started[0]["metric"]["pid"] == str(edge.pid)
        # The alert rules are loaded.
        async with http.get(f"{prometheus}/api/v1/rules") as answer:
            rules = await answer.json()
        names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"PicassoProcessDown", "PicassoNotReady", "PicassoConsumerLag",
                "PicassoDeadLetters", "PicassoEdgeErrors"} <= names


def test_a_worker_whose_endpoint_port_is_taken_stops_and_says_why(
        system_env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = Worker("users-port-taken", system_env, tmp_path / "worker.log",
                        tmp_path / "faust", "users", metrics_port=port)
        worker.start()
        try:
            with pytest.raises(ProcessError) as stopped:
                worker.wait_ready(timeout=120)
        finally:
            worker.stop()
    assert f"cannot listen on 127.0.0.1:{port} (METRICS_HOST, METRICS_PORT)" in str(
        stopped.value)
