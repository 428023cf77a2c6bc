"""Operations: liveness, readiness of each dependency, metrics, the OpenAPI document, the
AsyncAPI document of the Kafka topics, and the public media of the directory blob store."""

from __future__ import annotations

import functools
import json

from aiohttp import web

from picasso import probes
from picasso.blobs import PUBLIC_PREFIX, BlobNotFound, InvalidBlobKey
from topics.asyncapi import asyncapi_document
from web.openapi import openapi_document
from web.problems import Problem
from web.services import Services, services

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def readiness_checks(s: Services) -> dict[str, probes.Check]:
    """What the edge needs to answer: the broker, MongoDB, the blob store, Firebase Auth."""
    return {"broker": s.bus.ping, "mongodb": s.read.ping, "blob_store": s.blobs.ping,
            "auth": s.auth.ping}


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    # The details (addresses, driver messages) go to the log only: /readyz is public.
    return probes.ready_response(await probes.readiness(readiness_checks(services(request))))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    services(request).metrics.flush()  # this edge's requests counted so far
    return probes.metrics_response()


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
