"""The one classification of dependency failures: transient ones are retried, others not."""

from __future__ import annotations

import aiosmtplib
import pymysql
import pytest
import stripe
from aiokafka import errors as kafka_errors
from botocore.exceptions import ClientError, EndpointConnectionError
from pymongo import errors as mongo_errors

from picasso.failures import describe, is_transient


def _s3(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "PutObject")


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server"),
    pymysql.err.OperationalError(2013, "Lost connection"),
    pymysql.err.InterfaceError(0, ""),
    stripe.APIConnectionError("connection refused"),
    stripe.RateLimitError("slow down", http_status=429),
    stripe.APIError("boom", http_status=500),
    _s3("SlowDown", 503),
    _s3("InternalError", 500),
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    mongo_errors.AutoReconnect("down"),
    mongo_errors.ServerSelectionTimeoutError("no server"),
    mongo_errors.OperationFailure("write conflict", code=112),
    kafka_errors.KafkaConnectionError("no broker"),
    kafka_errors.KafkaTimeoutError(),
    kafka_errors.UnknownTopicOrPartitionError(),
    kafka_errors.UnknownError(),
    aiosmtplib.SMTPConnectError("refused"),
    aiosmtplib.SMTPResponseException(451, "try later"),
    ConnectionRefusedError(111, "refused"),
    TimeoutError(),
], ids=lambda e: type(e).__name__)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    pymysql.err.IntegrityError(1062, "Duplicate entry"),
    pymysql.err.ProgrammingError(1064, "syntax"),
    stripe.InvalidRequestError("Invalid currency: zzz", "currency", http_status=400),
    stripe.CardError("declined", None, "card_declined", http_status=402),
    stripe.AuthenticationError("bad key", http_status=401),
    _s3("NoSuchKey", 404),
    _s3("AccessDenied", 403),
    mongo_errors.DuplicateKeyError("dup", code=11000),
    mongo_errors.OperationFailure("bad query", code=2),
    kafka_errors.MessageSizeTooLargeError(),
    aiosmtplib.SMTPResponseException(550, "no such user"),
    FileNotFoundError(2, "gone"),
    RecursionError("too deep"),
    ValueError("bad"),
    KeyError("x"),
], ids=lambda e: type(e).__name__)
def test_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_describe_prefers_stripes_message_for_people() -> None:
    exc = stripe.InvalidRequestError("Invalid currency: zzz", "currency", http_status=400)
    assert "Invalid currency" in describe(exc)
    assert describe(ValueError("bad price")) == "ValueError: bad price"
