"""What every handler reaches through the application: stores, the bus, auth, metrics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Hashable

import structlog
from aiohttp import hdrs, web
from aiokafka.errors import KafkaError

from picasso import tracing
from picasso.blobs import BlobStore
from picasso.failures import is_transient
from picasso.kafka import MessageBus
from picasso.settings import Settings
from topics.envelope import CloudEvent
from topics.record import Record
from web.auth import FirebaseAuth, Identity
from web.backlog import Backlog
from web.journal import Journal
from web.live import LiveHub
from web.metrics import Metrics
from web.problems import Problem
from web.ratelimit import RateLimits
from web.readmodels import MAX_WAIT_MS, ReadModels, TooManyWaiters
from web.sessions import cookie_token, ended

SOURCE = "/picasso/web"
# How long a write may keep trying the broker before it answers 503 (with Retry-After).
SEND_RETRY_S = 5.0
log = structlog.get_logger()


@dataclass
class Services:
    settings: Settings
    bus: MessageBus
    read: ReadModels
    auth: FirebaseAuth
    blobs: BlobStore
    metrics: Metrics
    limits: RateLimits
    journal: Journal | None = None
    live: LiveHub | None = None  # live updates (web.live), started with the app
    backlog: Backlog | None = None  # backpressure (web.backlog), started with the app

    async def send(self, record: Record, subject: str, data: dict[str, Any],
                   event_id: str | None = None) -> CloudEvent:
        """Put a command or event on its topic; answers only once the broker has it.

        ``event_id`` keeps an id given from outside (a Stripe event's), so that consumers
        deduplicate a fact delivered twice.
        """
        if self.backlog is not None:
            try:
                self.backlog.check(record.topic, self.settings.topic_prefix)
            except Problem:
                self.metrics.command_refused(record.type)
                log.info("command_refused", type=record.type, reason="backlog")
                raise
        event = CloudEvent(type=record.type, subject=subject, data=data, source=SOURCE)
        if event_id:
            event = replace(event, id=event_id)
        event = tracing.stamp(event)  # the request's trace, on the command (README, Traces)
        # A broker restarting or a leader moving passes in a few seconds: try again within
        # the request rather than fail it; past that, the client is told to come back.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SEND_RETRY_S
        delay = 0.05
        while True:
            try:
                where = await asyncio.wait_for(self.bus.send(record, event),
                                               max(0.1, deadline - loop.time()))
                if self.backlog is not None:
                    self.backlog.sent(where.topic, where.partition, where.offset)
                if self.journal is not None:  # a memory-only broker: keep a copy (web.journal)
                    self.journal.record(record.topic.name(self.settings.topic_prefix),
                                        event.subject.encode(), event.to_json())
                break
            except (TimeoutError, KafkaError) as exc:
                if not is_transient(exc) or loop.time() + delay >= deadline:
                    log.error("command_not_sent", type=record.type, command_id=event.id,
                              error=repr(exc))
                    raise Problem(503, "the message broker is unavailable; nothing was "
                                       "changed; try again shortly",
                                  headers={"Retry-After": "2"}) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        self.metrics.command_sent(record.type)
        log.info("command_sent", type=record.type, command_id=event.id, subject=subject)
        return event


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "the Authorization header must be 'Bearer <Firebase ID token>'")
    return token.strip()


def may_be_signed_in(request: web.Request) -> bool:
    """Whether the request carries a token or a session to look at (most reads do not)."""
    headers = request.headers
    return hdrs.AUTHORIZATION in headers or hdrs.COOKIE in headers


async def optional_identity(request: web.Request) -> Identity | None:
    """The caller, or None when nobody is signed in.

    API clients send ``Authorization: Bearer`` (a bad token is a 401). Browsers carry the
    session cookies (refreshed when due, CSRF-checked for writes); a session whose token
    is refused is ended, and the browser is treated as signed out.
    """
    if not may_be_signed_in(request):
        return None
    s = services(request)
    token = bearer_token(request)
    from_cookie = token is None
    if from_cookie:
        token = await cookie_token(request, s.settings, s.auth)
        if token is None:
            return None
    try:
        who = await s.auth.verify(token)
    except Problem as problem:
        if not from_cookie or problem.status_code != 401:
            raise
        ended(request)
        return None
    tracing.identify(who.user_id)
    return who


async def identity(request: web.Request) -> Identity:
    """The signed-in caller, or a 401 problem."""
    who = await optional_identity(request)
    if who is None:
        raise Problem(401, "this needs a signed-in user: sign in, or send "
                           "'Authorization: Bearer <token>'")
    return who


def wait_ms(request: web.Request) -> int:
    raw = request.query.get("wait_ms", "0")
    try:
        value = int(raw)
    except ValueError:
        raise Problem(422, "wait_ms must be a whole number of milliseconds") from None
    if not 0 <= value <= MAX_WAIT_MS:
        raise Problem(422, f"wait_ms must be between 0 and {MAX_WAIT_MS}")
    return value


async def long_poll(request: web.Request, key: Hashable,
                    check: Callable[[], Awaitable[Any]]) -> Any:
    """``check``'s answer once it is truthy, waiting up to the request's ``wait_ms`` (None
    when the time ran out or there was none); every request waiting on ``key`` shares one
    check (web.readmodels.LongPolls). A 503 with Retry-After when the edge holds as many
    waiting requests as it may."""
    wait = wait_ms(request)
    try:
        return await services(request).read.polls.wait(key, check, wait)
    except TooManyWaiters:
        raise Problem(503, "too many requests are waiting here; ask again without wait_ms "
                           "or come back shortly", headers={"Retry-After": "1"}) from None


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 problem; ``optional``: no body is {}."""
    if optional and not request.can_read_body:
        return {}
    try:
        body = await request.json()
    # ValueError covers bad JSON and bad UTF-8; RecursionError, JSON nested too deep.
    except (ValueError, RecursionError):
        raise Problem(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    return body
