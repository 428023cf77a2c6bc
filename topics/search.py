"""Search: the facts of ``GET /api/v1/search``, shared by the edge's checks and the OpenAPI
document. Search has no records of its own: the search service reads the pictures' and the
users' events (``picasso.pictures.events``, ``picasso.users.events``)."""

from __future__ import annotations

# A query: at least one word, at most this many characters; words past the last counted
# one are ignored (they would only widen an already specific query).
QUERY_MAX = 100
QUERY_WORDS_MAX = 8
# What a search looks for: pictures (the default) or people by name.
SEARCH_TYPES: tuple[str, ...] = ("pictures", "people")
