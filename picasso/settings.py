"""One settings object, read from the environment (twelve-factor).

The defaults point at the embedded single-machine stack that ``make run`` starts, so
``faust -A agents.app worker`` and ``python -m web`` find it without any variable set.
Production sets the same variables to real services (Apache Kafka, MongoDB, S3, Firebase).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

# The one home of the embedded stack's ports (``make run``); tests pick free ports instead.
LOCAL_PORTS: dict[str, int] = {
    "edge": 8080,
    "kafka": 9092,
    "mongodb": 27027,
    "mariadb": 3307,
    "s3": 9000,
    "firebase_auth": 9099,
    "stripe": 8420,
    "smtp": 2525,
}


def _env(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip()
    return value or default


def _tristate(environ: Mapping[str, str], name: str) -> bool | None:
    """``true``/``false`` (also 1/0, yes/no), or None when unset or ``auto``."""
    value = environ.get(name, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true, false or auto, not {value!r}")


def _seconds_list(environ: Mapping[str, str], name: str,
                  default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma-separated list of seconds, e.g. ``1,5,30``; at least one, none negative."""
    value = environ.get(name, "").strip()
    if not value:
        return default
    seconds = tuple(float(part) for part in value.split(",") if part.strip())
    if not seconds or min(seconds) < 0:
        raise ValueError(f"{name} must be a comma-separated list of seconds, not {value!r}")
    return seconds


def _positive(environ: Mapping[str, str], name: str, default: float) -> float:
    """A number of seconds greater than zero; anything else is refused with the name."""
    raw = _env(environ, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds, not {raw!r}")
    return value


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    """A whole number greater than zero; anything else is refused with the name."""
    raw = _env(environ, name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number above 0, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    """Where every part of Picasso is and how it behaves; built by :meth:`from_env`."""

    env: str = "development"
    data_dir: Path = Path("data")
    kafka_bootstrap: str = f"127.0.0.1:{LOCAL_PORTS['kafka']}"
    topic_prefix: str = ""
    topic_partitions: int = 4
    app_id: str = "picasso"
    mongodb_url: str = f"mongodb://127.0.0.1:{LOCAL_PORTS['mongodb']}"
    mongodb_database: str = "picasso"
    blob_backend: str = "dir"
    blob_dir: Path = Path("data/blobs")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "picasso"
    public_media_url: str = f"http://127.0.0.1:{LOCAL_PORTS['edge']}/media"
    firebase_project_id: str = "demo-picasso"
    firebase_api_key: str = "local-api-key"
    firebase_auth_emulator_host: str | None = f"127.0.0.1:{LOCAL_PORTS['firebase_auth']}"
    mysql_shards: tuple[str, ...] = (
        f"mysql://root@127.0.0.1:{LOCAL_PORTS['mariadb']}/picasso_shard0",
        f"mysql://root@127.0.0.1:{LOCAL_PORTS['mariadb']}/picasso_shard1",
    )
    stripe_api_base: str | None = f"http://127.0.0.1:{LOCAL_PORTS['stripe']}"
    stripe_secret_key: str = "sk_test_picasso_local"
    stripe_publishable_key: str = "pk_test_picasso_local"
    stripe_webhook_secret: str = "whsec_picasso_local"
    download_ttl_s: int = 300
    # A purchase awaiting payment this long is expired: its PaymentIntent is cancelled and
    # the buyer may buy again. The purchases service looks for such purchases this often.
    purchase_payment_timeout_s: float = 1800.0
    purchase_expiry_sweep_s: float = 30.0
    # How long the edge serves a feed page before asking MongoDB again (0: not cached).
    feed_cache_ttl_s: float = 1.0
    # The most memory the feed cache holds (callers choose its keys: tags, owners, cursors).
    feed_cache_max_bytes: int = 64 * 1024 * 1024
    # How many requests one edge holds in a long poll (wait_ms) at once; past it, 503.
    max_long_poll_waiters: int = 2000
    # Rate limits, per edge process (README, "Abuse limits"): requests per minute, as a
    # token bucket that holds a minute's worth. Signing in, up, or starting a session counts
    # against the client's address and against the email it names.
    rate_auth_per_address_per_min: int = 30
    rate_auth_per_email_per_min: int = 10
    rate_likes_per_user_per_min: int = 300
    rate_uploads_per_user_per_min: int = 30
    rate_purchases_per_user_per_min: int = 30
    signing_key: str = "picasso-local-signing-key"
    edge_host: str = "127.0.0.1"
    edge_port: int = LOCAL_PORTS["edge"]
    public_base_url: str = f"http://127.0.0.1:{LOCAL_PORTS['edge']}"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = LOCAL_PORTS["smtp"]
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = None  # None: use STARTTLS when the relay offers it
    smtp_timeout_s: float = 30.0
    mail_from: str = "Picasso <no-reply@picasso.local>"
    # Mail that could not go yet waits in ``mail_deliveries`` with a due time, outside the
    # stream; a sweeper on every worker sends it when it is due (README, "Mail").
    # Waits after the 1st, 2nd, … attempt that got a 4xx or found the relay unreachable;
    # the last one repeats. Given up (``failed``, with the last reply) once the next try
    # would come later than MAIL_RETRY_FOR_S after the first attempt.
    mail_retry_delays_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
    mail_retry_for_s: float = 24 * 3600.0
    # How long a mail for a user the mail agent has not heard of waits for their
    # UserRegistered before it goes to the dead letters (replayable from there).
    mail_user_wait_s: float = 24 * 3600.0
    # How often each worker looks for mail that is due.
    mail_sweep_interval_s: float = 1.0
    # How long a worker holds a delivery it is sending; past that, another worker may take
    # it over (the first one died). A send is cut off at half of it.
    mail_send_lease_s: float = 120.0
    max_upload_bytes: int = 50 * 1024 * 1024
    # With a memory-only broker (make run, tests): where edges journal what they accept,
    # and how far back the journal is put back on the broker after it restarted (web.journal)
    # and how far back services send their recorded events again (faust ... resend).
    broker_journal_dir: Path | None = None
    broker_journal_retention_s: float = 3600.0
    log_format: str = "console"
    log_level: str = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        e = os.environ if environ is None else environ
        d = cls()
        data_dir = Path(_env(e, "PICASSO_DATA_DIR", str(d.data_dir)))
        production = _env(e, "PICASSO_ENV", d.env) == "production"
        emulator = e.get("FIREBASE_AUTH_EMULATOR_HOST")
        if emulator is None and not production:
            emulator = d.firebase_auth_emulator_host
        return cls(
            env=_env(e, "PICASSO_ENV", d.env),
            data_dir=data_dir,
            kafka_bootstrap=_env(e, "KAFKA_BOOTSTRAP", d.kafka_bootstrap),
            topic_prefix=e.get("PICASSO_TOPIC_PREFIX", d.topic_prefix),
            topic_partitions=int(_env(e, "PICASSO_TOPIC_PARTITIONS", str(d.topic_partitions))),
            app_id=_env(e, "PICASSO_APP_ID", d.app_id),
            mongodb_url=_env(e, "MONGODB_URL", d.mongodb_url),
            mongodb_database=_env(e, "MONGODB_DATABASE", d.mongodb_database),
            blob_backend=_env(e, "BLOB_BACKEND", d.blob_backend),
            blob_dir=Path(_env(e, "BLOB_DIR", str(data_dir / "blobs"))),
            s3_endpoint_url=e.get("S3_ENDPOINT_URL") or None,
            s3_region=_env(e, "S3_REGION", d.s3_region),
            s3_bucket=_env(e, "S3_BUCKET", d.s3_bucket),
            public_media_url=_env(e, "PUBLIC_MEDIA_URL", d.public_media_url).rstrip("/"),
            firebase_project_id=_env(e, "FIREBASE_PROJECT_ID", d.firebase_project_id),
            firebase_api_key=_env(e, "FIREBASE_API_KEY", d.firebase_api_key),
            firebase_auth_emulator_host=emulator or None,
            mysql_shards=tuple(
                dsn.strip()
                for dsn in _env(e, "MYSQL_SHARDS", ",".join(d.mysql_shards)).split(",")
                if dsn.strip()
            ),
            stripe_api_base=(e.get("STRIPE_API_BASE") or (None if production else
                                                          d.stripe_api_base)),
            stripe_secret_key=_env(e, "STRIPE_SECRET_KEY", d.stripe_secret_key),
            stripe_publishable_key=_env(e, "STRIPE_PUBLISHABLE_KEY", d.stripe_publishable_key),
            stripe_webhook_secret=_env(e, "STRIPE_WEBHOOK_SECRET", d.stripe_webhook_secret),
            download_ttl_s=int(_env(e, "DOWNLOAD_TTL_S", str(d.download_ttl_s))),
            purchase_payment_timeout_s=_positive(e, "PURCHASE_PAYMENT_TIMEOUT_S",
                                                 d.purchase_payment_timeout_s),
            purchase_expiry_sweep_s=_positive(e, "PURCHASE_EXPIRY_SWEEP_S",
                                              d.purchase_expiry_sweep_s),
            feed_cache_ttl_s=float(_env(e, "FEED_CACHE_TTL_S", str(d.feed_cache_ttl_s))),
            feed_cache_max_bytes=_count(e, "FEED_CACHE_MAX_BYTES", d.feed_cache_max_bytes),
            max_long_poll_waiters=_count(e, "MAX_LONG_POLL_WAITERS", d.max_long_poll_waiters),
            rate_auth_per_address_per_min=_count(e, "RATE_AUTH_PER_ADDRESS_PER_MIN",
                                                 d.rate_auth_per_address_per_min),
            rate_auth_per_email_per_min=_count(e, "RATE_AUTH_PER_EMAIL_PER_MIN",
                                               d.rate_auth_per_email_per_min),
            rate_likes_per_user_per_min=_count(e, "RATE_LIKES_PER_USER_PER_MIN",
                                               d.rate_likes_per_user_per_min),
            rate_uploads_per_user_per_min=_count(e, "RATE_UPLOADS_PER_USER_PER_MIN",
                                                 d.rate_uploads_per_user_per_min),
            rate_purchases_per_user_per_min=_count(e, "RATE_PURCHASES_PER_USER_PER_MIN",
                                                   d.rate_purchases_per_user_per_min),
            signing_key=_env(e, "SIGNING_KEY", d.signing_key),
            edge_host=_env(e, "EDGE_HOST", d.edge_host),
            edge_port=int(_env(e, "EDGE_PORT", str(d.edge_port))),
            public_base_url=_env(e, "PUBLIC_BASE_URL", d.public_base_url).rstrip("/"),
            smtp_host=_env(e, "SMTP_HOST", d.smtp_host),
            smtp_port=int(_env(e, "SMTP_PORT", str(d.smtp_port))),
            smtp_username=e.get("SMTP_USERNAME") or None,
            smtp_password=e.get("SMTP_PASSWORD") or None,
            smtp_starttls=_tristate(e, "SMTP_STARTTLS"),
            smtp_timeout_s=float(_env(e, "SMTP_TIMEOUT_S", str(d.smtp_timeout_s))),
            mail_from=_env(e, "MAIL_FROM", d.mail_from),
            mail_retry_delays_s=_seconds_list(e, "MAIL_RETRY_DELAYS_S", d.mail_retry_delays_s),
            mail_retry_for_s=float(_env(e, "MAIL_RETRY_FOR_S", str(d.mail_retry_for_s))),
            mail_user_wait_s=float(_env(e, "MAIL_USER_WAIT_S", str(d.mail_user_wait_s))),
            mail_sweep_interval_s=float(_env(e, "MAIL_SWEEP_INTERVAL_S",
                                             str(d.mail_sweep_interval_s))),
            mail_send_lease_s=float(_env(e, "MAIL_SEND_LEASE_S", str(d.mail_send_lease_s))),
            max_upload_bytes=int(_env(e, "MAX_UPLOAD_BYTES", str(d.max_upload_bytes))),
            broker_journal_dir=(Path(e["BROKER_JOURNAL_DIR"])
                                if e.get("BROKER_JOURNAL_DIR", "").strip() else None),
            broker_journal_retention_s=_positive(e, "BROKER_JOURNAL_RETENTION_S",
                                                 d.broker_journal_retention_s),
            log_format=_env(e, "LOG_FORMAT", "json" if production else d.log_format),
            log_level=_env(e, "LOG_LEVEL", d.log_level),
        )
