"""The OpenAPI document's home timeline (``web.routes.timeline``)."""

from __future__ import annotations

from typing import Any

from web.openapi.common import API, SIGNED_IN, Schema, operation, problems, response, schema_ref
from web.openapi.pictures import feed_parameters


def schemas() -> dict[str, Schema]:
    """None of its own: a page is the feed's ``PicturePage``."""
    return {}


def paths() -> dict[str, Any]:
    limit, cursor = (p for p in feed_parameters() if p["name"] in ("limit", "cursor"))
    return {f"{API}/me/timeline": {"get": operation(
        "getHomeTimeline", "timeline", "My home timeline",
        {"200": response("A page of the newest pictures of the people I follow, newest "
                         "first.", schema_ref("PicturePage")),
         **problems(400, 401, 422)},
        description="Pictures of the people the caller follows, newest first, shaped as "
                    "the feed's (with `liked_by_me` and `purchased_by_me`). Following "
                    "someone brings their recent pictures in shortly after; unfollowing "
                    "and deleting take them out.",
        security=SIGNED_IN, parameters=[limit, cursor],
    )}}
