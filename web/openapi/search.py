"""The OpenAPI document's search (``web.routes.search``)."""

from __future__ import annotations

from typing import Any

from topics.pictures import PRICE_MAX, TAG_MAX
from topics.search import QUERY_MAX, QUERY_WORDS_MAX, SEARCH_TYPES
from web.openapi.common import (
    API,
    OPTIONAL_SIGN_IN,
    Schema,
    nullable,
    obj,
    operation,
    problems,
    query,
    response,
    schema_ref,
    string,
)
from web.openapi.pictures import feed_parameters

_PRICE = {"type": "integer", "minimum": 0, "maximum": PRICE_MAX}


def schemas() -> dict[str, Schema]:
    return {
        "PersonFound": obj({
            "user_id": string(),
            "display_name": nullable(string()),
            "avatar_url": nullable(string(format="uri-reference")),
        }),
        "PeopleFound": obj({
            "items": {"type": "array", "items": schema_ref("PersonFound")},
            "next_cursor": nullable(string(description="Pass as `cursor` for the next page; "
                                                       "null on the last page.")),
        }),
    }


def paths() -> dict[str, Any]:
    limit, cursor, _ = feed_parameters()
    return {f"{API}/search": {"get": operation(
        "search", "search", "Search pictures or people",
        {"200": response("A page of what matches, best first: pictures shaped as the "
                         "feed's (`type=pictures`) or people (`type=people`).",
                         # anyOf: an empty page is either.
                         {"anyOf": [schema_ref("PicturePage"), schema_ref("PeopleFound")]}),
         **problems(400, 401, 422)},
        description="Published pictures whose title, description, tags or owner's name "
                    "hold the query's words, or people whose name does. Words match by "
                    "their English stem (`sunsets` finds `sunset`), and the last word also "
                    "as the beginning of a word (`sun` finds `sunset`, for search as one "
                    "types). Pictures holding more of the words come first, then those "
                    "where the words weigh more (title, then tags and the owner's name, "
                    "then the description; rarer words more), then the newest. A picture "
                    "is findable about a second after it is published; edits and deletes "
                    "change the results as soon.",
        security=OPTIONAL_SIGN_IN,
        parameters=[
            query("q", {"type": "string", "minLength": 1, "maxLength": QUERY_MAX},
                  f"The words to look for (at least one letter or digit; at most "
                  f"{QUERY_WORDS_MAX} words count)."),
            query("type", {"enum": list(SEARCH_TYPES), "default": SEARCH_TYPES[0]},
                  "Pictures, or people by name."),
            query("tag", {"type": "string", "maxLength": TAG_MAX},
                  "Pictures only: only those with this tag."),
            query("min_price_cents", _PRICE, "Pictures only: priced at least this."),
            query("max_price_cents", _PRICE, "Pictures only: priced at most this."),
            query("free", {"type": "boolean", "default": False},
                  "Pictures only: only free ones (price 0)."),
            limit, cursor,
        ],
    )}}
