"""The OpenAPI document's operations (``web.routes.ops``): liveness, readiness, metrics,
this document and the AsyncAPI document of the Kafka topics."""

from __future__ import annotations

from typing import Any

from web.openapi.common import API, Schema, obj, operation, response, schema_ref, string


def schemas() -> dict[str, Schema]:
    return {
        "Readiness": obj({
            "ready": {"type": "boolean"},
            "checks": {
                "type": "object",
                "description": "Each dependency: `ok`, `failed` or `timed out` (the error "
                               "itself is logged, never answered).",
                "additionalProperties": string(enum=["ok", "failed", "timed out"]),
                "examples": [{"broker": "ok", "mongodb": "ok", "blob_store": "ok",
                              "auth": "ok"}],
            },
        }),
        "Liveness": obj({"status": string(const="alive")}),
    }


def paths() -> dict[str, Any]:
    readiness = schema_ref("Readiness")
    return {
        "/healthz": {"get": operation(
            "healthz", "operations", "Liveness",
            {"200": response("The process answers.", schema_ref("Liveness"))},
        )},
        "/readyz": {"get": operation(
            "readyz", "operations", "Readiness of each dependency",
            {"200": response("Every dependency answered.", readiness),
             "503": response("Some dependency did not answer; `checks` says which.",
                             readiness)},
        )},
        "/metrics": {"get": operation(
            "metrics", "operations", "Prometheus metrics",
            {"200": response("Prometheus text exposition format.", string(),
                             media_type="text/plain")},
        )},
        f"{API}/openapi.json": {"get": operation(
            "getOpenApiDocument", "operations", "This OpenAPI document",
            {"200": response("The OpenAPI 3.1 document.", {"type": "object"})},
        )},
        f"{API}/asyncapi.json": {"get": operation(
            "getAsyncApiDocument", "operations", "The AsyncAPI document of the Kafka topics",
            {"200": response("The AsyncAPI 3.0 document of every topic, its key and every "
                             "record on it with its JSON Schema, for systems that produce "
                             "and consume them.", {"type": "object"})},
        )},
    }
