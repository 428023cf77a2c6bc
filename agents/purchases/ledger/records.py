"""What the ledger hands out and what it raises: purchase records, errors, statuses, and the
checks every argument passes before it reaches SQL."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from topics.record import CURRENCY_PATTERN

LIVE_STATUSES = frozenset({"pending", "awaiting_payment", "completed"})
"""A buyer may hold at most one purchase of a picture in these states."""
OPEN_STATUSES = frozenset({"pending", "awaiting_payment"})
"""States in which a purchase is still waiting for its payment."""

ID_MAX = 128
KEY_MAX = 255
REASON_MAX = 1000
_CURRENCY = re.compile(CURRENCY_PATTERN)


# -- errors ------------------------------------------------------------------------------------


class LedgerError(Exception):
    """Base of the ledger's own errors."""


class AlreadyOwned(LedgerError):
    """The buyer already has a live (pending, awaiting payment or completed) purchase of it."""

    def __init__(self, buyer_id: str, picture_id: str, purchase_id: str) -> None:
        super().__init__(
            f"buyer {buyer_id} already has purchase {purchase_id} of picture {picture_id}"
        )
        self.buyer_id = buyer_id
        self.picture_id = picture_id
        self.purchase_id = purchase_id
        """The existing live purchase."""


class PurchaseNotFound(LedgerError):
    """No purchase with that id belongs to that buyer."""


class LedgerConflict(LedgerError):
    """A repeated request disagrees with what was recorded (e.g. a key reused for another
    picture, or a second PaymentIntent for one purchase)."""


class Retry(Exception):
    """Internal: a race was lost; run the whole transaction again."""


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Purchase:
    """One purchase as the ledger holds it. Times are timezone-aware UTC."""

    purchase_id: str
    picture_id: str
    buyer_id: str
    seller_id: str
    amount_cents: int
    currency: str
    status: str
    payment_intent_id: str | None
    client_secret: str | None
    failure_reason: str | None
    idempotency_key: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (times as RFC 3339 strings); ``client_secret`` only while the
        purchase awaits payment, as the API shows it."""
        data = asdict(self)
        for name in ("created_at", "updated_at", "completed_at"):
            data[name] = iso(data[name])
        if self.status != "awaiting_payment":
            data["client_secret"] = None
        return data


@dataclass(frozen=True, slots=True)
class Sale:
    """One completed purchase, as its seller sees it."""

    seller_id: str
    purchase_id: str
    picture_id: str
    buyer_id: str
    amount_cents: int
    currency: str
    completed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["completed_at"] = iso(self.completed_at)
        return data


@dataclass(frozen=True, slots=True)
class SellerTotal:
    """A seller's completed sales in one currency."""

    currency: str
    sales_count: int
    gross_cents: int


@dataclass(frozen=True, slots=True)
class Payment:
    """One Stripe event applied to a purchase (see the ``payments`` table)."""

    event_id: str
    purchase_id: str
    kind: str
    amount_cents: int
    currency: str
    payment_intent_id: str | None
    note: str | None
    received_at: datetime


# -- times -------------------------------------------------------------------------------------


def now() -> datetime:
    """Now in UTC, naive and cut to milliseconds, as DATETIME(3) stores it."""
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000, tzinfo=None)


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- argument checks ---------------------------------------------------------------------------


def check_id(name: str, value: object, max_length: int = ID_MAX) -> None:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ValueError(f"{name} must be a non-empty string of at most {max_length} characters")


def check_cents(value: object) -> None:
    # bool is an int subclass, and a float or Decimal is not an amount of cents.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"amounts are integer cents, not {type(value).__name__}")
    if value < 0:
        raise ValueError("an amount cannot be negative")


def check_currency(value: object) -> str:
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.lower()):
        raise ValueError(f"currency must be a three-letter ISO 4217 code, not {value!r}")
    return value.lower()


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
        raise ValueError("limit must be an integer from 1 to 1000")
    return limit
