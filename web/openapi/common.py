"""What every resource's part of the OpenAPI document is built with: small schema
builders, who may call, the shared problem answers and the ``Location`` header."""

from __future__ import annotations

from typing import Any

from topics.record import CURRENCY_PATTERN
from web.problems import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from web.sessions import CSRF_COOKIE, CSRF_HEADER, ID_COOKIE

Schema = dict[str, Any]

API = "/api/v1"
JSON = "application/json"


def ref(kind: str, name: str) -> Schema:
    """A ``$ref`` to ``#/components/<kind>/<name>``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> Schema:
    return ref("schemas", name)


def nullable(schema: Schema) -> Schema:
    """``schema`` or JSON ``null`` (OpenAPI 3.1 has no ``nullable``)."""
    return {"anyOf": [schema, {"type": "null"}]}


def string(description: str | None = None, **keywords: Any) -> Schema:
    schema: Schema = {"type": "string", **keywords}
    if description:
        schema["description"] = description
    return schema


def obj(properties: dict[str, Schema], required: list[str] | None = None, *,
        description: str | None = None, closed: bool = False) -> Schema:
    """An object schema; ``required`` defaults to every property."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if description:
        schema["description"] = description
    if closed:
        schema["additionalProperties"] = False
    return schema


def json_content(schema: Schema, media_type: str = JSON) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


def response(description: str, schema: Schema | None = None, *,
             headers: dict[str, Any] | None = None, media_type: str = JSON) -> dict[str, Any]:
    """A response object, with a body when ``schema`` is given."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = json_content(schema, media_type)
    if headers:
        answer["headers"] = headers
    return answer


def json_body(schema: Schema, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": json_content(schema)}
    if description:
        body["description"] = description
    return body


def query(name: str, schema: Schema, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema, "description": description}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "string"}, "description": description}


def header_param(name: str, schema: Schema, description: str, *,
                 required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required,
            "schema": schema, "description": description}


def currency_schema() -> Schema:
    return string("ISO 4217 code, lower case.", pattern=CURRENCY_PATTERN)


# Who may call an operation (operations without ``security`` look at no token).
SIGNED_IN = [{"bearer": []}, {"browserSession": []}]
OPTIONAL_SIGN_IN = [{}, {"bearer": []}, {"browserSession": []}]

# The shared problem responses, by status (``#/components/responses/<name>``).
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed (not a JSON object, a broken multipart "
                        "body, a cursor this API did not give out)."),
    401: ("Unauthorized", "No bearer token was sent where one is needed, or the token "
                          "(or the credentials) were refused."),
    403: ("Forbidden", "The token is valid but the caller has no right to this (or a "
                       "write with the browser session lacks its CSRF token)."),
    404: ("NotFound", "There is no such resource the caller may see."),
    409: ("Conflict", "The request conflicts with the resource's state."),
    413: ("PayloadTooLarge", "The upload or one of its form fields is too large."),
    415: ("UnsupportedMediaType", "The body is not multipart/form-data, or the file is not "
                                  "a JPEG, PNG or WebP image."),
    422: ("UnprocessableContent", "Some fields are invalid; `errors` names each one and "
                                  "what is wrong with it."),
    429: ("TooManyRequests", "Over a rate limit of this caller (signing in by address or "
                             "email; likes, comments, uploads, purchases by user); `Retry-After` "
                             "says in how many seconds to try again."),
    502: ("BadGateway", "The identity service gave an unexpected answer."),
    503: ("ServiceUnavailable", "A dependency (message broker, identity service, token keys) "
                               "is unavailable, "
                               "too many requests wait (`wait_ms`), or (likes, comments, "
                               "follows) the service that applies the command is behind; "
                               "nothing was changed. `Retry-After` may say when to try "
                               "again."),
}


def problems(*statuses: int) -> dict[str, Any]:
    """The shared problem responses for ``statuses``, plus ``default`` for the unexpected."""
    answers: dict[str, Any] = {
        str(status): ref("responses", PROBLEMS[status][0]) for status in statuses
    }
    answers["default"] = ref("responses", "UnexpectedError")
    return answers


def operation(operation_id: str, tag: str, summary: str, responses: dict[str, Any], *,
              description: str | None = None, security: list | None = None,
              parameters: list[dict[str, Any]] | None = None,
              request_body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operation object; ``security=None`` leaves it public (no token looked at)."""
    op: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if request_body:
        op["requestBody"] = request_body
    op["responses"] = responses
    if security is not None:
        op["security"] = security
    return op


def accepted(schema_name: str, description: str) -> dict[str, Any]:
    return {"202": response(description, schema_ref(schema_name),
                            headers={"Location": ref("headers", "Location")})}


PICTURE_ID = path_param("picture_id", "The picture's id.")


def schemas() -> dict[str, Schema]:
    return {
        "Problem": obj({
            "type": string(format="uri"),
            "title": string(),
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": string(),
            "errors": {
                "type": "object", "additionalProperties": string(),
                "description": "In 422 problems: each bad field and what is wrong with it.",
            },
        }, required=["type", "title", "status", "detail"],
            description="RFC 9457 problem details."),
    }


def component_responses() -> dict[str, Any]:
    """``components.responses``: the problem answers, shared by every operation."""
    answers = {
        name: response(description, schema_ref("Problem"), media_type=PROBLEM_CONTENT_TYPE)
        for name, description in PROBLEMS.values()
    }
    answers["UnexpectedError"] = response(
        "An unexpected error; the detail names the request id.", schema_ref("Problem"),
        media_type=PROBLEM_CONTENT_TYPE)
    return answers


def component_headers() -> dict[str, Any]:
    return {
        "Location": {
            "description": "Where to read what the write started: the picture, with "
                           "`?after=<command_id>` for edits, deletes, likes and unlikes; "
                           "a comment's, the picture's comments with `?after=`.",
            "schema": string(format="uri-reference"),
        },
    }


def security_schemes() -> dict[str, Any]:
    return {
        "bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A Firebase ID token, as answered by register, login and "
                           "refresh, or obtained from Firebase Auth in a client.",
        },
        "browserSession": {
            "type": "apiKey", "in": "cookie", "name": ID_COOKIE,
            "description": "The HttpOnly cookies set by POST /api/v1/session. Writes "
                           f"also need the `{CSRF_HEADER}` header (the `{CSRF_COOKIE}` "
                           "cookie's value).",
        },
    }
