"""Operations: liveness, readiness of each dependency, metrics, the OpenAPI document, the
AsyncAPI document of the Kafka topics, and the public media of the directory blob store."""

from __future__ import annotations

import asyncio
import functools
import json

import structlog
from aiohttp import web

from picasso.blobs import PUBLIC_PREFIX, BlobNotFound, InvalidBlobKey
from topics.asyncapi import asyncapi_document
from web.openapi import openapi_document
from web.problems import Problem
from web.services import services

log = structlog.get_logger()
routes = web.RouteTableDef()
_READY_TIMEOUT_S = 3.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    s = services(request)
    checks = {
        "broker": s.bus.ping,
        "mongodb": s.read.ping,
        "blob_store": s.blobs.ping,
        "auth": s.auth.ping,
    }
    results = await asyncio.gather(
        *(asyncio.wait_for(check(), _READY_TIMEOUT_S) for check in checks.values()),
        return_exceptions=True,
    )
    answers: dict[str, str] = {}
    for name, result in zip(checks, results):
        if not isinstance(result, BaseException):
            answers[name] = "ok"
            continue
        # The details (addresses, driver messages) go to the log only: /readyz is public.
        answers[name] = "timed out" if isinstance(result, TimeoutError) else "failed"
        log.warning("dependency_not_ready", dependency=name, error=repr(result))
    ready = all(a == "ok" for a in answers.values())
    return web.json_response({"ready": ready, "checks": answers}, status=200 if ready else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    s = services(request)
    live = s.live.render() if s.live is not None else ""
    return web.Response(text=s.metrics.render() + s.read.polls.render() + live,
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@routes.get("/api/v1/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


@functools.cache
def _asyncapi_json() -> str:
    """The AsyncAPI document as served: built from ``topics`` once, like the OpenAPI one."""
    return json.dumps(asyncapi_document())


@routes.get("/api/v1/asyncapi.json")
async def asyncapi(request: web.Request) -> web.Response:
    return web.Response(text=_asyncapi_json(), content_type="application/json")


@routes.get("/media/{key:.+}")
async def media(request: web.Request) -> web.StreamResponse:
    """Previews and thumbnails when blobs live in a local directory (``BLOB_BACKEND=dir``)."""
    blobs = services(request).blobs
    key = PUBLIC_PREFIX + request.match_info["key"]
    try:
        path = blobs.media_file(key)  # BlobNotFound where media have their own address
    except (BlobNotFound, InvalidBlobKey):
        raise Problem(404, "no such media") from None
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
