"""Rate limits kept in the edge's memory: a token bucket per (limit, caller).

Each edge process counts on its own, so with N edges behind a load balancer a caller gets up
to N times the limit (README, "Abuse limits"); production would keep the buckets in a
shared store (Redis, or the load balancer's own limiter) instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from picasso.settings import Settings
from web.problems import Problem

# Buckets kept per limit before the full ones (callers idle for a while) are dropped, so
# that callers choosing new keys (addresses, emails) cannot grow the edge's memory forever.
MAX_BUCKETS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    """``per_minute`` requests a minute per key, in bursts of up to a minute's worth."""

    def __init__(self, name: str, per_minute: int) -> None:
        self.name = name
        self.capacity = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, key: str) -> float:
        """Take one token for ``key``: 0 if there was one, else the seconds until there is."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._drop_full(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.refill_per_s)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.refill_per_s

    def check(self, key: str) -> None:
        """Count one request for ``key``, or raise a 429 problem with ``Retry-After``."""
        wait = self.retry_after(key)
        if wait > 0:
            raise Problem(429, f"too many requests ({self.name}); try again in "
                               f"{math.ceil(wait)} s",
                          headers={"Retry-After": str(math.ceil(wait))})

    def _drop_full(self, now: float) -> None:
        """Forget buckets that have refilled: they hold nothing a new bucket would not."""
        self._buckets = {
            key: b for key, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.refill_per_s < self.capacity
        }
        if len(self._buckets) >= MAX_BUCKETS:  # all busy: forgetting is the lesser harm
            self._buckets.clear()


@dataclass
class RateLimits:
    """The edge's limits, each from its setting (picasso.settings)."""

    auth_per_address: RateLimit
    auth_per_email: RateLimit
    likes: RateLimit
    comments: RateLimit
    follows: RateLimit
    uploads: RateLimit
    purchases: RateLimit

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            auth_per_address=RateLimit("sign-ins from this address",
                                       settings.rate_auth_per_address_per_min),
            auth_per_email=RateLimit("sign-ins for this email",
                                     settings.rate_auth_per_email_per_min),
            likes=RateLimit("likes", settings.rate_likes_per_user_per_min),
            comments=RateLimit("comments", settings.rate_comments_per_user_per_min),
            follows=RateLimit("follows", settings.rate_follows_per_user_per_min),
            uploads=RateLimit("uploads", settings.rate_uploads_per_user_per_min),
            purchases=RateLimit("purchases", settings.rate_purchases_per_user_per_min),
        )
