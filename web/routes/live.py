"""``GET /api/v1/live``: live updates as Server-Sent Events (web.live holds the streams).

Anyone may watch pictures (``?pictures=id1,id2``); a signed-in caller (session cookie or
Bearer token) also gets their own purchases, unread count and home timeline.
"""

from __future__ import annotations

import re

from aiohttp import web

from topics.record import KEY_SEGMENT
from web import sessions
from web.live import PICTURES_MAX, Refused, sse_headers
from web.problems import Problem, invalid
from web.services import optional_identity, services

routes = web.RouteTableDef()

LIVE = "/api/v1/live"
_ID = re.compile(KEY_SEGMENT)


def watched_pictures(request: web.Request) -> list[str]:
    """The ``pictures`` query: picture ids, comma-separated, at most PICTURES_MAX; or 422."""
    raw = request.query.get("pictures", "")
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if len(ids) > PICTURES_MAX or not all(_ID.fullmatch(i) for i in ids):
        raise invalid({"pictures": f"at most {PICTURES_MAX} picture ids, separated by commas"})
    return ids


@routes.get(LIVE)
async def live(request: web.Request) -> web.StreamResponse:
    s = services(request)
    pictures = watched_pictures(request)
    who = await optional_identity(request)
    hub = s.live
    if hub is None:
        raise Problem(503, "live updates are not running on this edge",
                      headers={"Retry-After": "5"})
    try:
        stream = hub.open(pictures, who.user_id if who else None, request.remote or "")
    except Refused as refused:
        raise Problem(refused.status, refused.detail, headers={"Retry-After": "5"}) from None
    try:
        response = web.StreamResponse(headers=sse_headers())
        sessions.apply_cookies(request, response, s.settings)  # a refreshed session
        await response.prepare(request)
        # EventSource sends the header when it reconnects; a page that opens a new stream
        # (it watches other pictures) names the last id it saw in the query.
        last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
        hub.start_stream(stream, request.transport, last)
        while True:
            message = await stream.queue.get()
            if stream.closed:
                break
            await response.write(message)
    except (ConnectionError, RuntimeError):
        pass  # the client went away, or the stream was cut (web.live drops slow clients)
    finally:
        hub.close(stream)
    return response
