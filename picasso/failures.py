"""Which failures of our dependencies are worth trying again: the one place that decides.

A *transient* failure is one of the dependency, not of the message: a server restarting, a
connection refused or dropped, a timeout, a rate limit, a 5xx. Work that fails that way is
retried with backoff until it goes through; nothing accepted is dropped because a database
blinked. Every other failure is *permanent* for that message: the domain decides what it
means (a failed purchase with Stripe's reason, say) or the message goes to the dead letters
with the reason, and the stream goes on.

Each dependency has its own rule below; :func:`is_transient` asks them all.
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import aiosmtplib
import pymysql
import stripe
from aiokafka import errors as kafka_errors
from botocore.exceptions import BotoCoreError, ClientError
from pymongo import errors as mongo_errors

# MongoDB server error codes that mean "not now" rather than "not ever" (the driver's own
# retryable-write codes, write conflicts and shutdowns).
MONGO_TRANSIENT_CODES = frozenset({
    6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 63, 150,
})
MONGO_TRANSIENT_LABELS = ("TransientTransactionError", "RetryableWriteError",
                          "ResumableChangeStreamError")

# MariaDB / MySQL: can't connect (2002, 2003), gone away (2006), lost connection (2013,
# 2055), too many connections (1040), shutting down (1053), connection killed (1927),
# lock wait timeout (1205), deadlock (1213), read-only during failover (1290, 1836).
MYSQL_TRANSIENT_CODES = frozenset({
    1040, 1053, 1205, 1213, 1290, 1836, 1927, 2002, 2003, 2006, 2013, 2055, 4031,
})

# S3 error codes that say "slow down" or "try again" besides a 5xx status.
S3_TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "503", "500",
})


class Contended(Exception):
    """Work that met another writer of the same documents (a worker whose partitions just
    moved, still finishing its batch) and found its guard changed: done again, it reads
    what the other wrote."""


def _ours(exc: BaseException) -> bool | None:
    return True if isinstance(exc, Contended) else None


def _mongo(exc: BaseException) -> bool | None:
    if not isinstance(exc, mongo_errors.PyMongoError):
        return None
    if isinstance(exc, (mongo_errors.ConnectionFailure, mongo_errors.ServerSelectionTimeoutError,
                        mongo_errors.ExecutionTimeout, mongo_errors.WTimeoutError)):
        return True
    if any(exc.has_error_label(label) for label in MONGO_TRANSIENT_LABELS):
        return True
    if isinstance(exc, mongo_errors.BulkWriteError):
        codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
        return bool(codes) and codes <= MONGO_TRANSIENT_CODES
    if isinstance(exc, mongo_errors.OperationFailure):
        return exc.code in MONGO_TRANSIENT_CODES
    return False


def _mysql(exc: BaseException) -> bool | None:
    if isinstance(exc, pymysql.err.InterfaceError):
        return True  # the connection is closed: a new one will do
    if isinstance(exc, pymysql.err.MySQLError):
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        return code in MYSQL_TRANSIENT_CODES
    return None


def _stripe(exc: BaseException) -> bool | None:
    if not isinstance(exc, stripe.StripeError):
        return None
    if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError)):
        return True
    status = exc.http_status
    if status is not None and (status >= 500 or status in (408, 409, 429)):
        return True  # 409: an idempotent request still in flight at Stripe
    return isinstance(exc, stripe.APIError) and status is None


def _s3(exc: BaseException) -> bool | None:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429 or error.get("Code") in S3_TRANSIENT_CODES
    if isinstance(exc, BotoCoreError):
        return True  # endpoint unreachable, read timeouts, incomplete reads
    return None


def _kafka(exc: BaseException) -> bool | None:
    if not isinstance(exc, kafka_errors.KafkaError):
        return None
    if isinstance(exc, (kafka_errors.KafkaConnectionError, kafka_errors.KafkaTimeoutError,
                        kafka_errors.NodeNotReadyError, kafka_errors.RequestTimedOutError,
                        # The broker's "unexpected server error" (-1): seen from a broker
                        # that has just started and has not created the topics yet.
                        kafka_errors.UnknownError)):
        return True
    if isinstance(exc, kafka_errors.MessageSizeTooLargeError):
        return False
    return bool(getattr(exc, "retriable", False))


def _smtp(exc: BaseException) -> bool | None:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 400 <= exc.code < 500  # 4xx: try later; 5xx: refused for good
    if isinstance(exc, aiosmtplib.SMTPException):
        return True  # connection refused or dropped, timeouts, STARTTLS or login trouble
    return None


_PERMANENT_OS_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError,
                        NotADirectoryError, PermissionError)


def _network(exc: BaseException) -> bool | None:
    if isinstance(exc, (aiohttp.ClientResponseError,)):
        return exc.status >= 500 or exc.status in (408, 429)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError,
                        ssl.SSLError)):
        return True
    if isinstance(exc, _PERMANENT_OS_ERRORS):
        return False  # a file that is not there will not appear by waiting
    if isinstance(exc, OSError):
        return True  # refused, reset, unreachable, no route, disk full: not the message
    return None


_RULES = (_ours, _mongo, _mysql, _stripe, _s3, _kafka, _smtp, _network)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` is a dependency's passing failure, worth trying again with backoff."""
    for rule in _RULES:
        verdict = rule(exc)
        if verdict is not None:
            return verdict
    return False


def describe(exc: BaseException) -> str:
    """A short, human reason for a failure, for logs, dead letters and users."""
    if isinstance(exc, stripe.StripeError):
        return exc.user_message or str(exc) or type(exc).__name__
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
