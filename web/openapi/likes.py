"""The OpenAPI document's likes (``web.routes.likes``): each one a command."""

from __future__ import annotations

from typing import Any

from web.openapi.common import (
    API,
    PICTURE_ID,
    SIGNED_IN,
    Schema,
    accepted,
    operation,
    problems,
)


def schemas() -> dict[str, Schema]:
    """None of their own: a like answers the pictures' ``Accepted``."""
    return {}

def paths() -> dict[str, Any]:
    def react(operation_id: str, summary: str, description: str) -> dict[str, Any]:
        return operation(
            operation_id, "likes", summary,
            {**accepted("Accepted", "Accepted; the like count changes once applied."),
             **problems(401, 404, 429, 503)},
            description=f"{description} 404 unless the picture is published.",
            security=SIGNED_IN, parameters=[PICTURE_ID],
        )

    return {f"{API}/pictures/{{picture_id}}/like": {
        "put": react("likePicture", "Like a picture", "Liking twice counts once."),
        "delete": react("unlikePicture", "Take a like back", "Unliking is idempotent too."),
    }}
