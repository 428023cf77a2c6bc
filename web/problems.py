"""RFC 9457 problem details: every error the edge answers, never a stack trace."""

from __future__ import annotations

import json
from typing import Any, Mapping

from aiohttp import web

PROBLEM_TYPE_BASE = "https://picasso.example/problems/"
CONTENT_TYPE = "application/problem+json"

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(web.HTTPException):
    """An error answer as ``application/problem+json``; raise it from any handler."""

    def __init__(self, status: int, detail: str, *, type_: str | None = None,
                 title: str | None = None, headers: Mapping[str, str] | None = None,
                 **extra: Any) -> None:
        self.status_code = status
        body = {
            "type": PROBLEM_TYPE_BASE + (type_ or _slug(_TITLES.get(status, "error"))),
            "title": title or _TITLES.get(status, "Error"),
            "status": status,
            "detail": detail,
            **extra,
        }
        super().__init__(text=json.dumps(body), content_type=CONTENT_TYPE, headers=headers)
        self.body_dict = body


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def problem_response(status: int, detail: str, **extra: Any) -> web.Response:
    problem = Problem(status, detail, **extra)
    return web.Response(status=status, text=problem.text, content_type=CONTENT_TYPE)


def invalid(errors: dict[str, str]) -> Problem:
    """A 422 naming each bad field and what is wrong with it."""
    detail = "; ".join(f"{field}: {message}" for field, message in errors.items())
    return Problem(422, detail, errors=errors)
