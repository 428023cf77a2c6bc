"""The aiohttp application factory of the edge."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from multidict import istr

from picasso import heap, probes
from picasso.blobs import open_blob_store
from picasso.kafka import MessageBus, ensure_topics
from picasso.metrics import mark_started
from picasso.mongo import connect
from picasso.settings import Settings
from picasso.tasks import cancel_all
from picasso.tracing import start_request
from web import sessions
from web.auth import FirebaseAuth
from web.backlog import Backlog
from web.journal import Journal
from web.live import LiveHub
from web.metrics import FLUSH_INTERVAL_S, Metrics
from web.problems import Problem, problem_response
from web.ratelimit import RateLimits
from web.readmodels import ReadModels
from web.routes import MODULES as ROUTE_MODULES
from web.routes.ops import readiness_checks
from web.services import SERVICES, Services

log = structlog.get_logger()
# Case-insensitive header names made once: the headers of every request and answer.
TRACEPARENT = istr("traceparent")
REQUEST_ID = istr("X-Request-ID")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class EdgeStartTimeout(RuntimeError):
    """A step of the edge's start did not finish within EDGE_START_TIMEOUT_S."""


def request_context(settings: Settings, metrics: Metrics) -> Callable:
    """The middleware: request id and trace, one log line per request (a share of them,
    ``ACCESS_LOG_SAMPLE``, for answers below 400), metrics, and problem+json for every
    error.

    The request continues the client's trace (a valid ``traceparent`` header) or starts
    one; its commands carry it (picasso.tracing), and the answer tells it back in the
    ``traceparent`` and ``X-Request-ID`` headers."""
    # Decided once: a level above info writes no request lines, so none are made.
    logged = logging.getLevelNamesMapping().get(settings.log_level.upper(),
                                                 logging.INFO) <= logging.INFO
    sample = settings.access_log_sample

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        # The lines logged meanwhile carry it (picasso.tracing.log_request_trace); each
        # request runs in a task of its own, so nothing bound here outlives it.
        traced = start_request(headers.get(TRACEPARENT), headers.get(REQUEST_ID))
        request_id = traced.request_id
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Problem as problem:
            response = problem
        except web.HTTPException as exc:  # aiohttp's own: 404 no route, 405, 413 …
            response = problem_response(exc.status, exc.reason)
            for name in ("Allow",):
                if name in exc.headers:
                    response.headers[name] = exc.headers[name]
        except Exception:
            log.exception("request_failed", method=request.method, path=request.path)
            response = problem_response(500, f"something went wrong; request id {request_id}")
        answer_headers = response.headers
        answer_headers[REQUEST_ID] = request_id
        answer_headers[TRACEPARENT] = traced.traceparent
        sessions.apply_cookies(request, response, settings)
        seconds = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        status = response.status
        metrics.observe_request(request.method, route, status, seconds)
        if logged and (status >= 400 or sample >= 1 or random.random() < sample):
            log.info("request", method=request.method, path=request.path, status=status,
                     ms=round(seconds * 1000, 1))
        return response

    return middleware


async def _keep_flushing(metrics: Metrics) -> None:
    """Add the requests the middleware counted to the shared metrics, every so often."""
    while True:
        await asyncio.sleep(FLUSH_INTERVAL_S)
        metrics.flush()


def create_app(settings: Settings) -> web.Application:
    """The edge: routes, middleware, and the stores opened for the app's lifetime."""
    # The requests' counts, shared by the middleware and the handlers (Services).
    metrics = Metrics()
    app = web.Application(middlewares=[request_context(settings, metrics)],
                          client_max_size=1024 * 1024)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        # A dependency that accepts connections but never answers would hold the start
        # forever, with no port open for a probe to find dead: past EDGE_START_TIMEOUT_S
        # the edge stops instead, naming the step, and its supervisor starts it again.
        step = "the blob store"
        try:
            async with asyncio.timeout(settings.edge_start_timeout_s):
                blobs = open_blob_store(settings)
                await blobs.start()
                step = "the broker (its topics)"
                await ensure_topics(settings)
                step = "the broker (the producer)"
                bus = MessageBus(settings)
                await bus.start()
                step = "the identity service"
                auth = FirebaseAuth(settings)
                await auth.start()
                step = "the live consumer"
                db = connect(settings)
                live = LiveHub(settings, db)
                await live.start()
                step = "the backlog watch"
                backlog = Backlog(settings)
                await backlog.start()
        except TimeoutError:
            log.error("edge_start_timed_out", step=step, timeout_s=settings.edge_start_timeout_s)
            raise EdgeStartTimeout(
                f"the edge could not start: {step} did not answer within "
                f"EDGE_START_TIMEOUT_S ({settings.edge_start_timeout_s:g} s)") from None
        read = ReadModels(db, blobs, signing_key=settings.signing_key,
                          feed_cache_ttl_s=settings.feed_cache_ttl_s,
                          feed_cache_max_bytes=settings.feed_cache_max_bytes,
                          max_waiters=settings.max_long_poll_waiters,
                          marks_cache_ttl_s=settings.marks_cache_ttl_s,
                          marks_cache_max_bytes=settings.marks_cache_max_bytes)
        # The live consumer sees every like and purchase: a reader's kept marks go with it.
        live.marks_changed = read.marks.forget
        app[SERVICES] = Services(
            settings=settings, bus=bus, read=read,
            auth=auth, blobs=blobs, metrics=metrics,
            limits=RateLimits.from_settings(settings),
            journal=(Journal(settings.broker_journal_dir, settings.broker_journal_retention_s)
                     if settings.broker_journal_dir is not None else None),
            live=live,
            backlog=backlog,
        )
        # Readiness as a metric too (picasso_ready), checked on its own between /readyz calls.
        readiness = asyncio.ensure_future(probes.keep_checking(readiness_checks(app[SERVICES])))
        flushing = asyncio.ensure_future(_keep_flushing(metrics))
        mark_started()
        log.info("edge_started", host=settings.edge_host, port=settings.edge_port,
                 objects_frozen=heap.settle())
        yield
        await cancel_all(readiness, flushing)
        metrics.flush()
        await live.stop()
        await backlog.stop()
        if app[SERVICES].journal is not None:
            app[SERVICES].journal.close()
        await auth.close()
        await bus.stop()
        await blobs.close()

    app.cleanup_ctx.append(lifetime)

    async def end_live_streams(app: web.Application) -> None:
        """Live streams never end by themselves: end them before the edge waits for its
        requests to finish."""
        live = app[SERVICES].live
        if live is not None:
            live.close_all()

    app.on_shutdown.append(end_live_streams)
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
    return app
