"""One-click unsubscribe links (RFC 8058): made by the mail agent, checked by the edge.

A link names a user and a kind of notification mail (or ``all`` of them) and carries an
HMAC of both under ``SIGNING_KEY``, so it works without signing in and cannot be forged
for someone else.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

PATH = "/api/v1/unsubscribe"
ALL = "all"


def signature(secret: str, user_id: str, kind: str) -> str:
    """The signature of an unsubscribe link for ``user_id`` and ``kind``."""
    message = f"unsubscribe\n{user_id}\n{kind}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def link(base_url: str, secret: str, user_id: str, kind: str) -> str:
    """The one-click unsubscribe URL on the edge at ``base_url``."""
    query = urlencode({"user": user_id, "kind": kind,
                       "signature": signature(secret, user_id, kind)})
    return f"{base_url}{PATH}?{query}"


def valid(secret: str, user_id: str, kind: str, given: str) -> bool:
    """Whether ``given`` is the signature of the link for ``user_id`` and ``kind``."""
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
    return hmac.compare_digest(signature(secret, user_id, kind).encode(),
                               given.encode("utf-8", "replace"))
