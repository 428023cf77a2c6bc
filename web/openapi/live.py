"""The OpenAPI document's live updates (``web.routes.live``): a Server-Sent Events stream;
the events and their data are described here, the limits are the edge's settings and
``web.live``'s bound on watched pictures."""

from __future__ import annotations

from typing import Any

from topics.purchases import STATUSES
from web.live import PICTURES_MAX, RETRY_MS
from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    Schema,
    header_param,
    nullable,
    obj,
    operation,
    problems,
    query,
    string,
)

EVENTS = """\
Each message is a Server-Sent Event with an `id` (`<edge>.<number>`), an `event` name and
one line of JSON `data`:

- `ready` `{edge}`: first, on every connection (also sets the client's `retry` to
  RETRY ms);
- `likes` `{picture_id, like_count}`, `comments` `{picture_id, comment_count}`: a watched
  picture's counts changed (the counts the services computed);
- signed in only: `purchase` `{purchase_id, picture_id, status, failure_reason}` for the
  caller's purchases (`status`: STATUSES); `notifications` `{unread}`: the caller's unread
  count (on connecting and whenever it changes); `timeline` `{picture_id, owner_id, title}`:
  someone the caller follows published a picture (it is in the home timeline shortly);
- `reset` `{}`: what was missed since `Last-Event-ID` cannot be replayed (another edge's id,
  or too old): fetch what the page shows again.

A comment line (`: heartbeat`) comes every `LIVE_HEARTBEAT_S` seconds. A client that does
not read its stream is disconnected. Browsers' `EventSource` reconnects by itself and sends
`Last-Event-ID`; messages the edge still holds are then replayed.
""".replace("RETRY", str(RETRY_MS)).replace("STATUSES", ", ".join(STATUSES))


def schemas() -> dict[str, Schema]:
    return {"LiveEvent": obj({
        "picture_id": string(), "like_count": {"type": "integer", "minimum": 0},
        "comment_count": {"type": "integer", "minimum": 0}, "purchase_id": string(),
        "status": {"enum": list(STATUSES)}, "failure_reason": nullable(string()),
        "unread": {"type": "integer", "minimum": 0}, "owner_id": string(),
        "title": nullable(string()), "edge": string(),
    }, [], description="The `data` of one event; which fields depend on the `event` name.")}


def paths() -> dict[str, Any]:
    stream = {"description": "The events, as they happen.",
              "content": {"text/event-stream": {"schema": {
                  "type": "string", "description": "Server-Sent Events; each `data` is a "
                                                   "`LiveEvent`."}}}}
    return {f"{API}/live": {"get": operation(
        "getLive", "live", "Live updates (Server-Sent Events)",
        {"200": stream,
         **problems(401, 422, 429, 503)},
        description="Opens a stream of what changes on the pictures a page shows and, for "
                    "a signed-in caller, their own purchases, unread notifications and "
                    "home timeline. Too many streams of one user or (not signed in) one "
                    "address is 429, an edge holding as many as it may is 503, both with "
                    "`Retry-After`.\n\n" + EVENTS,
        security=OPTIONAL_SIGN_IN,
        parameters=[
            query("pictures", string(), f"Picture ids to watch, comma-separated (at most "
                                        f"{PICTURES_MAX})."),
            header_param("Last-Event-ID", string(), "The id of the last message received "
                                                    "(EventSource sends it on reconnecting): "
                                                    "what came since is replayed."),
            query("last_event_id", string(), "The same, for a client that opens a new "
                                             "stream (other pictures) and would miss "
                                             "nothing meanwhile; the header wins."),
        ],
    )}}
