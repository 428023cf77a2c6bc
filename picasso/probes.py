"""Liveness, readiness and metrics over HTTP: the checks the edge and the workers share, and
the small HTTP endpoint every worker serves beside its agents.

A worker answers on ``METRICS_HOST:METRICS_PORT`` (0: a free port, logged as
``worker_endpoint``):

- ``GET /healthz``: 200 while its event loop runs;
- ``GET /readyz``: 200 once its consumer has joined its group and while its stores answer,
  503 otherwise, with each check's answer (as the edge's ``/readyz``);
- ``GET /metrics``: its metrics in the Prometheus text format (:mod:`picasso.metrics`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from picasso.metrics import READY, exposition

log = structlog.get_logger()

READY_TIMEOUT_S = 3.0
# How often a process checks its dependencies on its own, for the ``picasso_ready`` gauge.
READY_INTERVAL_S = 10.0

Check = Callable[[], Awaitable[object]]


async def readiness(checks: Mapping[str, Check]) -> dict[str, str]:
    """Run every check at once, each cut off at ``READY_TIMEOUT_S``: ``ok``, ``failed`` or
    ``timed out`` for each, also set as the ``picasso_ready`` gauge. The details of a
    failure go to the log only (the answer may be public)."""
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), READY_TIMEOUT_S) for check in checks.values()),
        return_exceptions=True)
    answers: dict[str, str] = {}
    for name, result in zip(checks, results):
        if isinstance(result, BaseException):
            answers[name] = "timed out" if isinstance(result, TimeoutError) else "failed"
            log.warning("dependency_not_ready", dependency=name, error=repr(result))
        else:
            answers[name] = "ok"
        READY.labels(name).set(1 if answers[name] == "ok" else 0)
    return answers


async def keep_checking(checks: Mapping[str, Check],
                        interval_s: float = READY_INTERVAL_S) -> None:
    """Check readiness every ``interval_s`` until cancelled, so that ``picasso_ready`` stays
    current between calls of ``/readyz``."""
    while True:
        try:
            await readiness(checks)
        except Exception as exc:  # noqa: BLE001 - a check's bug must not end the loop
            log.warning("readiness_check_failed", error=repr(exc))
        await asyncio.sleep(interval_s)


def ready_response(answers: dict[str, str]) -> web.Response:
    ready = all(answer == "ok" for answer in answers.values())
    return web.json_response({"ready": ready, "checks": answers}, status=200 if ready else 503)


def metrics_response() -> web.Response:
    body, content_type = exposition()
    # aiohttp wants the charset apart from the media type.
    media_type, _, _ = content_type.partition(";")
    return web.Response(body=body, content_type=media_type, charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def worker_endpoint(checks: Mapping[str, Check],
                    before_scrape: Callable[[], object] = lambda: None) -> web.Application:
    """The worker's HTTP application; ``before_scrape`` brings gauges up to date."""
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(request: web.Request) -> web.Response:
        return ready_response(await readiness(checks))

    async def metrics(request: web.Request) -> web.Response:
        before_scrape()
        return metrics_response()

    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz),
                    web.get("/metrics", metrics)])
    return app


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port); answers the runner and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, bound
