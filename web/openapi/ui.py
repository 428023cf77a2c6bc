"""The OpenAPI document's part of the UI's routes (``web.routes.ui``): the settings
Picasso's pages read. The pages and their files are not the API and are not documented."""

from __future__ import annotations

from typing import Any

from topics.comments import TEXT_MAX as COMMENT_TEXT_MAX
from topics.pictures import DESCRIPTION_MAX, TITLE_MAX
from web.openapi.common import API, Schema, obj, operation, response, schema_ref, string


def schemas() -> dict[str, Schema]:
    return {
        "ClientConfig": obj({
            "max_upload_bytes": {"type": "integer", "minimum": 1},
            "limits": obj({"title_max": {"type": "integer", "const": TITLE_MAX},
                           "description_max": {"type": "integer", "const": DESCRIPTION_MAX},
                           "comment_max": {"type": "integer", "const": COMMENT_TEXT_MAX}},
                          description="The upload form's limits, as the contract has them."),
            "payments": obj({
                "test_mode": {"type": "boolean",
                              "description": "Stripe runs with test keys."},
                "test_payment_methods": {
                    "type": "array",
                    "description": "Stripe test payment methods a page may offer (test "
                                   "mode only): pass `id` as `payment_method`.",
                    "items": obj({"id": string(), "label": string()}),
                },
            }),
        }, description="What Picasso's pages need to know about this server."),
    }


def paths() -> dict[str, Any]:
    return {
        f"{API}/config": {"get": operation(
            "getClientConfig", "operations", "Settings for Picasso's pages",
            {"200": response("What the pages need to know.", schema_ref("ClientConfig"))},
        )},
    }
