"""One settings object, read from the environment (twelve-factor).

Settings fail closed. Only ``PICASSO_ENV=local`` (``make run``, the benchmarks) or
``PICASSO_ENV=test`` (the tests) fills in :data:`LOCAL_DEFAULTS`: the embedded stack's
addresses (the Firebase Auth emulator, which accepts unsigned tokens; localstripe over plain
http) and its public test secrets. Any other environment, ``PICASSO_ENV=production``
included, gets no default for a secret or an endpoint, and :meth:`Settings.from_env` refuses
it with one :class:`SettingsError` naming every variable that is missing or unsafe
(:func:`problems`). ``python -m picasso.settings check`` runs the same check alone.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from picasso.numbers import whole_number

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
    # Not Prometheus's usual 9090, which a system-wide Prometheus may hold.
    "prometheus": 9190,
    # The first of the workers' own ports (/healthz, /readyz, /metrics): make run's n-th
    # worker gets this one plus n - 1 (deploy.local.processes.worker_ports).
    "workers": 9300,
}




def mysql_shards(server_url: str, databases: tuple[str, ...] = ("picasso_shard0",
                                                              "picasso_shard1")) -> str:
    """A ``MYSQL_SHARDS`` value: ``databases`` on one server (``mysql://user@host:port``)."""
    return ",".join(f"{server_url.rstrip('/')}/{database}" for database in databases)


# The values of PICASSO_ENV; only the last two turn on LOCAL_DEFAULTS.
PRODUCTION = "production"
LOCAL_ENVS: tuple[str, ...] = ("local", "test")
ENVS: tuple[str, ...] = (PRODUCTION, *LOCAL_ENVS)

# The embedded stack's addresses and secrets, by environment variable. They are public (they
# are in this file), so they are used only when PICASSO_ENV says local or test.
LOCAL_DEFAULTS: dict[str, str] = {
    "KAFKA_BOOTSTRAP": f"127.0.0.1:{LOCAL_PORTS['kafka']}",
    "MONGODB_URL": f"mongodb://127.0.0.1:{LOCAL_PORTS['mongodb']}",
    "MYSQL_SHARDS": mysql_shards(f"mysql://root@127.0.0.1:{LOCAL_PORTS['mariadb']}"),
    "PUBLIC_MEDIA_URL": f"http://127.0.0.1:{LOCAL_PORTS['edge']}/media",
    "PUBLIC_BASE_URL": f"http://127.0.0.1:{LOCAL_PORTS['edge']}",
    # "demo-*": the emulator never calls Google for such a project.
    "FIREBASE_PROJECT_ID": "demo-picasso",
    "FIREBASE_API_KEY": "local-api-key",
    "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{LOCAL_PORTS['firebase_auth']}",
    "STRIPE_API_BASE": f"http://127.0.0.1:{LOCAL_PORTS['stripe']}",
    # localstripe accepts any "sk_…" key and signs webhooks with the secret they were
    # registered with (deploy.local.stack registers this one).
    "STRIPE_SECRET_KEY": "sk_test_picasso_local",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_picasso_local",
    "STRIPE_WEBHOOK_SECRET": "whsec_picasso_local_webhook_secret",
    "SIGNING_KEY": "picasso-local-signing-key",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": str(LOCAL_PORTS["smtp"]),
    # moto's S3 accepts any key; boto3 wants one all the same.
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}
# Meaningful for the embedded stack only, and refused elsewhere: the emulator's address
# (firebase-admin reads it itself and then accepts unsigned ID tokens) and the Maildir the
# local SMTP server keeps mail in (elsewhere mail leaves through the relay, SMTP_HOST).
LOCAL_ONLY: dict[str, str] = {
    "FIREBASE_AUTH_EMULATOR_HOST": "the emulator accepts unsigned ID tokens",
    "MAILDIR": "only the embedded stack's SMTP server keeps mail in a Maildir",
    "TRENDING_CLOCK_OFFSET_S": "it moves the trending service's clock, for tests",
}

# Needed outside local/test, by each process's role (the edge, or a domain's service):
# without them it would reach nothing, or sign with nothing. Each gets only the credentials
# it uses: the edge no ledger and no Stripe secret key, a service no Firebase.
_BROKER_AND_STORE = ("KAFKA_BOOTSTRAP", "MONGODB_URL")
REQUIRED_BY: dict[str, tuple[str, ...]] = {
    "edge": (*_BROKER_AND_STORE, "FIREBASE_PROJECT_ID", "FIREBASE_API_KEY",
             "STRIPE_WEBHOOK_SECRET", "SIGNING_KEY", "PUBLIC_BASE_URL", "PUBLIC_MEDIA_URL"),
    "users": _BROKER_AND_STORE,
    "uploads": (*_BROKER_AND_STORE, "PUBLIC_MEDIA_URL"),
    "reactions": _BROKER_AND_STORE,
    "comments": _BROKER_AND_STORE,
    "social": _BROKER_AND_STORE,
    "timeline": _BROKER_AND_STORE,
    "trending": _BROKER_AND_STORE,
    "notifications": _BROKER_AND_STORE,
    "search": _BROKER_AND_STORE,
    "purchases": (*_BROKER_AND_STORE, "MYSQL_SHARDS", "STRIPE_SECRET_KEY"),
    "mail": (*_BROKER_AND_STORE, "SMTP_HOST", "SIGNING_KEY", "PUBLIC_BASE_URL"),
}
# A whole deployment's configuration (``python -m picasso.settings check``) needs them all.
REQUIRED: tuple[str, ...] = tuple(dict.fromkeys(
    name for names in REQUIRED_BY.values() for name in names))
# Secrets that sign what Picasso trusts later (download, unsubscribe and CSRF tokens;
# Stripe's webhooks): guessable or published ones let anyone forge them.
MIN_SECRET_CHARS = 32
SIGNING_SECRETS: tuple[str, ...] = ("SIGNING_KEY", "STRIPE_WEBHOOK_SECRET")
# URLs that must be https outside local/test: secrets, signed links or money travel on them.
HTTPS_ONLY: tuple[str, ...] = (
    "STRIPE_API_BASE", "S3_ENDPOINT_URL", "PUBLIC_BASE_URL", "PUBLIC_MEDIA_URL",
)
_LOCAL_SECRETS = frozenset(
    LOCAL_DEFAULTS[name] for name in
    ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SIGNING_KEY")
) | {"whsec_picasso_local"}  # the webhook secret before it was lengthened


# Settings that are secrets (credentials in URLs included): a deployment takes them from a
# secret store (deploy/kubernetes references a Secret), never from a file in the open.
SECRETS: tuple[str, ...] = (
    "MONGODB_URL", "MYSQL_SHARDS", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SIGNING_KEY",
    "FIREBASE_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
)


def min_insync_replicas(replication: int) -> int:
    """How many copies a write must reach before the broker acknowledges it (acks=all):
    one less than all, so that one broker may be down, but never fewer than one."""
    return max(1, replication - 1)


class SettingsError(ValueError):
    """The environment is missing settings or has unsafe ones; ``problems`` lists them all."""

    def __init__(self, env: str, problems: list[str]) -> None:
        self.problems = problems
        shown = env if env else "unset"
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"picasso refuses to start (PICASSO_ENV={shown}): {len(problems)} setting(s) "
            f"missing or unsafe:\n{lines}")


def problems(environ: Mapping[str, str], role: str | None = None) -> list[str]:
    """Every missing or unsafe setting in ``environ``, one line each naming its variable,
    for a process of ``role`` (a key of :data:`REQUIRED_BY`; None: every role).

    Empty for PICASSO_ENV=local or test, where the local defaults are wanted; for any other
    value, unset or unknown ones included, every rule applies."""
    env = environ.get("PICASSO_ENV", "").strip()
    if env in LOCAL_ENVS:
        return []
    found: list[str] = []
    if not env:
        found.append("PICASSO_ENV is not set: set it to production "
                     "(or local/test for the embedded stack)")
    elif env != PRODUCTION:
        found.append(f"PICASSO_ENV={env!r} is unknown: it must be one of {', '.join(ENVS)}")
    value = {name: environ.get(name, "").strip() for name in
             {*REQUIRED, *HTTPS_ONLY, *SIGNING_SECRETS, "AWS_SECRET_ACCESS_KEY"}}
    needed = REQUIRED if role is None else REQUIRED_BY[role]
    found += [f"{name} is not set" for name in needed if not value[name]]
    for name in SIGNING_SECRETS:
        if value[name] in _LOCAL_SECRETS:
            found.append(f"{name} is the published local default")
        elif value[name] and len(value[name]) < MIN_SECRET_CHARS:
            found.append(f"{name} is shorter than {MIN_SECRET_CHARS} characters")
    if value["STRIPE_SECRET_KEY"] in _LOCAL_SECRETS:
        found.append("STRIPE_SECRET_KEY is the local (localstripe) key")
    if value["AWS_SECRET_ACCESS_KEY"] == LOCAL_DEFAULTS["AWS_SECRET_ACCESS_KEY"]:
        found.append("AWS_SECRET_ACCESS_KEY is the local (moto) key")
    # Their mere presence in a process is refused, whatever Picasso's own settings say.
    found += [f"{name} is set: {why}" for name, why in LOCAL_ONLY.items() if name in environ]
    if value["FIREBASE_PROJECT_ID"].startswith("demo-"):
        found.append("FIREBASE_PROJECT_ID is a demo-* project, which only the emulator has")
    for name in HTTPS_ONLY:
        if value[name] and not value[name].lower().startswith("https://"):
            found.append(f"{name} is not an https:// URL")
    return found


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


def _number(environ: Mapping[str, str], name: str, default: float, kind: type = float):
    """A whole number (``kind=int``) or a number; a value that is neither names its variable."""
    raw = _env(environ, name, str(default))
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, not {raw!r}") from None


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


def _share(environ: Mapping[str, str], name: str, default: float) -> float:
    """A share from 0 to 1; anything else is refused with the name."""
    value = _number(environ, name, default)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be from 0 to 1, not {value!r}")
    return value


def _positive(environ: Mapping[str, str], name: str, default: float,
              unit: str = "seconds") -> float:
    """A number of seconds (or ``unit``) greater than zero; anything else is refused with the
    name."""
    raw = _env(environ, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of {unit}, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 {unit}, not {raw!r}")
    return value


def _heartbeat(environ: Mapping[str, str], default: float) -> float:
    """BROKER_HEARTBEAT_INTERVAL_S, which must leave room for a few heartbeats within the
    session timeout (Kafka's rule: at most a third of it)."""
    value = _positive(environ, "BROKER_HEARTBEAT_INTERVAL_S", default)
    session = _positive(environ, "BROKER_SESSION_TIMEOUT_S", Settings.broker_session_timeout_s)
    if value > session / 3:
        raise ValueError(f"BROKER_HEARTBEAT_INTERVAL_S ({value:g}) must be at most a third of "
                         f"BROKER_SESSION_TIMEOUT_S ({session:g})")
    return value


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    """A whole number greater than zero; anything else is refused with the name."""
    raw = _env(environ, name, str(default))
    count = whole_number(raw)
    if count is None or count < 1:
        raise ValueError(f"{name} must be a whole number above 0, not {raw!r}")
    return count


@dataclass(frozen=True)
class Settings:
    """Where every part of Picasso is and how it behaves; built by :meth:`from_env`."""

    env: str = PRODUCTION
    data_dir: Path = Path("data")
    # Endpoints and secrets have no default here: LOCAL_DEFAULTS fills them for local/test.
    kafka_bootstrap: str = ""
    topic_prefix: str = ""
    topic_partitions: int = 4
    # Copies of each partition the broker keeps: 1 on the one local broker, 3 on a cluster
    # (with min.insync.replicas one less, see topic_min_insync_replicas).
    topic_replication: int = 1
    # A worker's membership of its consumer group: a worker not heard from for the session
    # timeout (cut off, hung) loses its partitions to the others; it says it is alive every
    # heartbeat interval; a rebalance waits this long for every member to join again.
    # Faust's 60 s session would leave a dead worker's partitions still for a minute.
    broker_session_timeout_s: float = 6.0
    broker_heartbeat_interval_s: float = 1.0
    broker_rebalance_timeout_s: float = 20.0
    # How long the broker may hold a consumer's fetch that finds nothing new. A Kafka broker
    # answers as soon as a message arrives, so this only paces an idle consumer; the local
    # broker answers a held fetch late, so on it this bounds a delay of every message at each
    # hop: Faust's fixed 1.5 s, 0.35 s at the median and 0.75 s at worst; 0.2 s, 31 ms and
    # 0.1 s. Shorter costs an idle system more (the broker answers every consumer's fetches:
    # at rest, the whole system 13.5% of a core at 1.5 s, 20.8% at 0.2 s, 55.4% at 0.05 s).
    broker_fetch_wait_s: float = 0.2
    app_id: str = "picasso"
    mongodb_url: str = ""
    mongodb_database: str = "picasso"
    blob_backend: str = "dir"
    blob_dir: Path = Path("data/blobs")
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_bucket: str = "picasso"
    # None: boto3's own chain (an instance role, say); boto3 also reads these two itself.
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    public_media_url: str = ""
    firebase_project_id: str = ""
    firebase_api_key: str = ""
    firebase_auth_emulator_host: str | None = None
    mysql_shards: tuple[str, ...] = ()
    stripe_api_base: str | None = None  # None: api.stripe.com
    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    download_ttl_s: int = 300
    # A purchase awaiting payment this long is expired: its PaymentIntent is cancelled and
    # the buyer may buy again. The purchases service looks for such purchases this often.
    purchase_payment_timeout_s: float = 1800.0
    purchase_expiry_sweep_s: float = 30.0
    # How long the edge serves a feed page before asking MongoDB again (0: not cached).
    feed_cache_ttl_s: float = 1.0
    # The most memory the feed cache holds (callers choose its keys: tags, owners, cursors).
    feed_cache_max_bytes: int = 64 * 1024 * 1024
    # How long the edge keeps a signed-in reader's marks (liked_by_me, purchased_by_me) on
    # the feed pages they read (0: not kept); forgotten at once when the edge sees one of
    # their likes, unlikes or purchases applied (web.readmodels.ReaderMarks); past it they
    # are served while one reload runs, for up to as long again. At most
    # MARKS_CACHE_MAX_BYTES of those readers' answers are kept.
    marks_cache_ttl_s: float = 30.0
    marks_cache_max_bytes: int = 32 * 1024 * 1024
    # How many requests one edge holds in a long poll (wait_ms) at once; past it, 503.
    max_long_poll_waiters: int = 2000
    # Backpressure (README, "Backpressure"): the edge refuses a command with 503 and
    # Retry-After while the oldest command it sent to the same service waits unapplied
    # longer than BACKLOG_MAX_AGE_S (0: never refuses); it asks the service's consumer group
    # how far it has applied every BACKLOG_POLL_S. Workers commit what they applied every
    # COMMIT_INTERVAL_S, which bounds how fresh that answer can be (0.1 s: the work the
    # edge counts as waiting is less of it already done; 0.2 s let the p99 of likes
    # accepted at twice the capacity reach 1.05-1.66 s). Fewer than
    # BACKLOG_MIN_WAITING commands waiting are no backlog: a lone person's like and unlike
    # during one slow batch are not refused.
    backlog_max_age_s: float = 0.5
    backlog_poll_s: float = 0.1
    backlog_min_waiting: int = 10
    commit_interval_s: float = 0.1
    # Rate limits, per edge process (README, "Abuse limits"): requests per minute, as a
    # token bucket that holds a minute's worth. Signing in, up, or starting a session counts
    # against the client's address and against the email it names.
    rate_auth_per_address_per_min: int = 30
    rate_auth_per_email_per_min: int = 10
    rate_likes_per_user_per_min: int = 300
    rate_comments_per_user_per_min: int = 30
    rate_follows_per_user_per_min: int = 60
    rate_uploads_per_user_per_min: int = 30
    rate_purchases_per_user_per_min: int = 30
    # Live updates (``GET /api/v1/live``, README "Live updates"), per edge process: open
    # streams in all, per signed-in user, per address for visitors; a comment line every
    # LIVE_HEARTBEAT_S; a stream whose client lets LIVE_QUEUE_MAX messages wait is closed;
    # the last LIVE_REPLAY_MAX messages are kept for a client that reconnects.
    live_max_connections: int = 10000
    live_max_per_user: int = 8
    live_max_per_address: int = 32
    live_heartbeat_s: float = 15.0
    live_queue_max: int = 64
    live_replay_max: int = 4096
    signing_key: str = ""
    edge_host: str = "127.0.0.1"
    edge_port: int = LOCAL_PORTS["edge"]
    # How long an edge may take to open its stores and reach the broker at start; past it
    # the edge stops, naming the step it was in, and its supervisor starts it again.
    edge_start_timeout_s: float = 120.0
    # Where links in mails and download links point; never the bind address above.
    public_base_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587  # mail submission
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = None  # None: use STARTTLS when the relay offers it
    smtp_timeout_s: float = 30.0
    mail_from: str = "Picasso <no-reply@picasso.local>"
    # The Maildir where the embedded stack's SMTP server keeps what it accepts (local/test
    # only; tests read mail there).
    maildir: Path | None = None
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
    # An account with at most this many followers has each new picture written into every
    # follower's home timeline (fan-out on write); one with more is merged in when a
    # follower reads (README, "Home timeline").
    timeline_fanout_max_followers: int = 10_000
    # How often each trending worker ranks the pictures again (README, "Trending").
    trending_refresh_s: float = 2.0
    # Seconds added to the trending service's clock (local/test only): tests script
    # activity across windows without waiting for them.
    trending_clock_offset_s: float = 0.0
    # With a memory-only broker (make run, tests): where edges journal what they accept,
    # and how far back the journal is put back on the broker after it restarted (web.journal)
    # and how far back services send their recorded events again (faust ... resend).
    broker_journal_dir: Path | None = None
    broker_journal_retention_s: float = 3600.0
    # How long the broker keeps every topic's messages (retention.ms of each topic created
    # by picasso.kafka.ensure_topics and of deploy/kubernetes' KafkaTopics).
    topic_retention_hours: float = 7 * 24.0
    # How long a service's inbox keeps a command it applied (a TTL index on its
    # ``applied_date``, picasso.runtime.Inbox). It must be longer than the topics keep
    # messages (and than BROKER_JOURNAL_RETENTION_S): within it a redelivered command is
    # found and skipped, and no older one can still arrive (README, "Reliability").
    inbox_retention_hours: float = 14 * 24.0
    # JSON lines everywhere (python -m picasso.trace reads them); "console" for a terminal.
    log_format: str = "json"
    log_level: str = "info"
    # The share of the edge's answered requests (below 400) that write their `request` log
    # line: 1 writes every one; answers of 400 and above always write theirs. Every request
    # is still counted in the metrics.
    access_log_sample: float = 1.0
    # A worker's HTTP endpoint: /healthz, /readyz, /metrics (picasso.probes); port 0 takes
    # any free port (logged as worker_endpoint). Bind 0.0.0.0 only where a network policy
    # keeps it private (a pod's probes and Prometheus).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0

    @property
    def local(self) -> bool:
        """True for the embedded stack (PICASSO_ENV local or test), where its defaults apply."""
        return self.env in LOCAL_ENVS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 role: str | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment) for a
        process of ``role`` (see :func:`problems`).

        Raises :class:`SettingsError` naming every missing or unsafe variable (see
        :func:`problems`) and every value that does not parse."""
        e = os.environ if environ is None else environ
        env = e.get("PICASSO_ENV", "").strip()
        found = problems(e, role)
        if env in LOCAL_ENVS:
            # Blank counts as unset, as everywhere here; but an emulator address set to ""
            # on purpose means "no emulator" and is kept.
            e = {**e, **{name: value for name, value in LOCAL_DEFAULTS.items()
                         if not e.get(name, "").strip()
                         and not (name == "FIREBASE_AUTH_EMULATOR_HOST" and name in e)}}
        try:
            settings = cls._read(e, env)
        except ValueError as exc:
            found.append(str(exc))
        if found:
            raise SettingsError(env, found)
        return settings

    @classmethod
    def _read(cls, e: Mapping[str, str], env: str) -> Settings:
        d = cls()
        data_dir = Path(_env(e, "PICASSO_DATA_DIR", str(d.data_dir)))
        local = env in LOCAL_ENVS
        return cls(
            env=env,
            data_dir=data_dir,
            kafka_bootstrap=_env(e, "KAFKA_BOOTSTRAP", d.kafka_bootstrap),
            topic_prefix=e.get("PICASSO_TOPIC_PREFIX", d.topic_prefix),
            topic_partitions=_number(e, "PICASSO_TOPIC_PARTITIONS", d.topic_partitions, int),
            topic_replication=_number(e, "PICASSO_TOPIC_REPLICATION", d.topic_replication, int),
            broker_session_timeout_s=_positive(e, "BROKER_SESSION_TIMEOUT_S",
                                               d.broker_session_timeout_s),
            broker_heartbeat_interval_s=_heartbeat(e, d.broker_heartbeat_interval_s),
            broker_rebalance_timeout_s=_positive(e, "BROKER_REBALANCE_TIMEOUT_S",
                                                 d.broker_rebalance_timeout_s),
            broker_fetch_wait_s=_positive(e, "BROKER_FETCH_WAIT_S", d.broker_fetch_wait_s),
            app_id=_env(e, "PICASSO_APP_ID", d.app_id),
            mongodb_url=_env(e, "MONGODB_URL", d.mongodb_url),
            mongodb_database=_env(e, "MONGODB_DATABASE", d.mongodb_database),
            blob_backend=_env(e, "BLOB_BACKEND", d.blob_backend),
            blob_dir=Path(_env(e, "BLOB_DIR", str(data_dir / "blobs"))),
            s3_endpoint_url=e.get("S3_ENDPOINT_URL") or None,
            s3_region=_env(e, "S3_REGION", d.s3_region),
            s3_bucket=_env(e, "S3_BUCKET", d.s3_bucket),
            aws_access_key_id=e.get("AWS_ACCESS_KEY_ID", "").strip() or None,
            aws_secret_access_key=e.get("AWS_SECRET_ACCESS_KEY", "").strip() or None,
            public_media_url=_env(e, "PUBLIC_MEDIA_URL", d.public_media_url).rstrip("/"),
            firebase_project_id=_env(e, "FIREBASE_PROJECT_ID", d.firebase_project_id),
            firebase_api_key=_env(e, "FIREBASE_API_KEY", d.firebase_api_key),
            # Outside local/test problems() has refused the variable already.
            firebase_auth_emulator_host=(e.get("FIREBASE_AUTH_EMULATOR_HOST", "").strip() or None
                                         if local else None),
            mysql_shards=tuple(
                dsn.strip()
                for dsn in _env(e, "MYSQL_SHARDS", ",".join(d.mysql_shards)).split(",")
                if dsn.strip()
            ),
            stripe_api_base=e.get("STRIPE_API_BASE", "").strip() or None,
            stripe_secret_key=_env(e, "STRIPE_SECRET_KEY", d.stripe_secret_key),
            stripe_publishable_key=_env(e, "STRIPE_PUBLISHABLE_KEY", d.stripe_publishable_key),
            stripe_webhook_secret=_env(e, "STRIPE_WEBHOOK_SECRET", d.stripe_webhook_secret),
            download_ttl_s=_number(e, "DOWNLOAD_TTL_S", d.download_ttl_s, int),
            purchase_payment_timeout_s=_positive(e, "PURCHASE_PAYMENT_TIMEOUT_S",
                                                 d.purchase_payment_timeout_s),
            purchase_expiry_sweep_s=_positive(e, "PURCHASE_EXPIRY_SWEEP_S",
                                              d.purchase_expiry_sweep_s),
            feed_cache_ttl_s=_number(e, "FEED_CACHE_TTL_S", d.feed_cache_ttl_s),
            feed_cache_max_bytes=_count(e, "FEED_CACHE_MAX_BYTES", d.feed_cache_max_bytes),
            marks_cache_ttl_s=_number(e, "MARKS_CACHE_TTL_S", d.marks_cache_ttl_s),
            marks_cache_max_bytes=_count(e, "MARKS_CACHE_MAX_BYTES", d.marks_cache_max_bytes),
            max_long_poll_waiters=_count(e, "MAX_LONG_POLL_WAITERS", d.max_long_poll_waiters),
            backlog_max_age_s=_number(e, "BACKLOG_MAX_AGE_S", d.backlog_max_age_s),
            backlog_poll_s=_positive(e, "BACKLOG_POLL_S", d.backlog_poll_s),
            backlog_min_waiting=_count(e, "BACKLOG_MIN_WAITING", d.backlog_min_waiting),
            commit_interval_s=_positive(e, "COMMIT_INTERVAL_S", d.commit_interval_s),
            rate_auth_per_address_per_min=_count(e, "RATE_AUTH_PER_ADDRESS_PER_MIN",
                                                 d.rate_auth_per_address_per_min),
            rate_auth_per_email_per_min=_count(e, "RATE_AUTH_PER_EMAIL_PER_MIN",
                                               d.rate_auth_per_email_per_min),
            rate_likes_per_user_per_min=_count(e, "RATE_LIKES_PER_USER_PER_MIN",
                                               d.rate_likes_per_user_per_min),
            rate_comments_per_user_per_min=_count(e, "RATE_COMMENTS_PER_USER_PER_MIN",
                                                  d.rate_comments_per_user_per_min),
            rate_follows_per_user_per_min=_count(e, "RATE_FOLLOWS_PER_USER_PER_MIN",
                                                 d.rate_follows_per_user_per_min),
            rate_uploads_per_user_per_min=_count(e, "RATE_UPLOADS_PER_USER_PER_MIN",
                                                 d.rate_uploads_per_user_per_min),
            rate_purchases_per_user_per_min=_count(e, "RATE_PURCHASES_PER_USER_PER_MIN",
                                                   d.rate_purchases_per_user_per_min),
            live_max_connections=_count(e, "LIVE_MAX_CONNECTIONS", d.live_max_connections),
            live_max_per_user=_count(e, "LIVE_MAX_PER_USER", d.live_max_per_user),
            live_max_per_address=_count(e, "LIVE_MAX_PER_ADDRESS", d.live_max_per_address),
            live_heartbeat_s=_positive(e, "LIVE_HEARTBEAT_S", d.live_heartbeat_s),
            live_queue_max=_count(e, "LIVE_QUEUE_MAX", d.live_queue_max),
            live_replay_max=_count(e, "LIVE_REPLAY_MAX", d.live_replay_max),
            signing_key=_env(e, "SIGNING_KEY", d.signing_key),
            edge_host=_env(e, "EDGE_HOST", d.edge_host),
            edge_port=_number(e, "EDGE_PORT", d.edge_port, int),
            edge_start_timeout_s=_positive(e, "EDGE_START_TIMEOUT_S", d.edge_start_timeout_s),
            public_base_url=_env(e, "PUBLIC_BASE_URL", d.public_base_url).rstrip("/"),
            smtp_host=_env(e, "SMTP_HOST", d.smtp_host),
            smtp_port=_number(e, "SMTP_PORT", d.smtp_port, int),
            smtp_username=e.get("SMTP_USERNAME") or None,
            smtp_password=e.get("SMTP_PASSWORD") or None,
            smtp_starttls=_tristate(e, "SMTP_STARTTLS"),
            smtp_timeout_s=_number(e, "SMTP_TIMEOUT_S", d.smtp_timeout_s),
            mail_from=_env(e, "MAIL_FROM", d.mail_from),
            # Outside local/test problems() has refused the variable already.
            maildir=(Path(e["MAILDIR"]) if local and e.get("MAILDIR", "").strip() else None),
            mail_retry_delays_s=_seconds_list(e, "MAIL_RETRY_DELAYS_S", d.mail_retry_delays_s),
            mail_retry_for_s=_number(e, "MAIL_RETRY_FOR_S", d.mail_retry_for_s),
            mail_user_wait_s=_number(e, "MAIL_USER_WAIT_S", d.mail_user_wait_s),
            mail_sweep_interval_s=_number(e, "MAIL_SWEEP_INTERVAL_S", d.mail_sweep_interval_s),
            mail_send_lease_s=_number(e, "MAIL_SEND_LEASE_S", d.mail_send_lease_s),
            max_upload_bytes=_number(e, "MAX_UPLOAD_BYTES", d.max_upload_bytes, int),
            timeline_fanout_max_followers=_count(e, "TIMELINE_FANOUT_MAX_FOLLOWERS",
                                                 d.timeline_fanout_max_followers),
            trending_refresh_s=_positive(e, "TRENDING_REFRESH_S", d.trending_refresh_s),
            # Outside local/test problems() has refused the variable already.
            trending_clock_offset_s=(_number(e, "TRENDING_CLOCK_OFFSET_S",
                                             d.trending_clock_offset_s)
                                     if local else d.trending_clock_offset_s),
            broker_journal_dir=(Path(e["BROKER_JOURNAL_DIR"])
                                if e.get("BROKER_JOURNAL_DIR", "").strip() else None),
            broker_journal_retention_s=_positive(e, "BROKER_JOURNAL_RETENTION_S",
                                                 d.broker_journal_retention_s),
            **_retention(e, d),
            log_format=_env(e, "LOG_FORMAT", d.log_format),
            log_level=_env(e, "LOG_LEVEL", d.log_level),
            access_log_sample=_share(e, "ACCESS_LOG_SAMPLE", d.access_log_sample),
            metrics_host=_env(e, "METRICS_HOST", d.metrics_host),
            metrics_port=_number(e, "METRICS_PORT", d.metrics_port, int),
        )


def _retention(e: Mapping[str, str], d: Settings) -> dict[str, float]:
    """The topics' and the inboxes' retention, refused (naming both) unless the inboxes keep
    a command longer than the topics and the broker journal can deliver it again."""
    topics = _positive(e, "TOPIC_RETENTION_HOURS", d.topic_retention_hours, "hours")
    inboxes = _positive(e, "INBOX_RETENTION_HOURS", d.inbox_retention_hours, "hours")
    journal = _positive(e, "BROKER_JOURNAL_RETENTION_S", d.broker_journal_retention_s) / 3600
    if not inboxes > max(topics, journal):
        raise ValueError(
            f"INBOX_RETENTION_HOURS ({inboxes:g}) must be more than TOPIC_RETENTION_HOURS "
            f"({topics:g}) and BROKER_JOURNAL_RETENTION_S in hours ({journal:g}): an inbox "
            f"that forgets a command the broker can still deliver would apply it twice")
    return {"topic_retention_hours": topics, "inbox_retention_hours": inboxes}


def topic_retention_ms(hours: float) -> int:
    """``retention.ms`` of every topic, from TOPIC_RETENTION_HOURS."""
    return int(hours * 3600 * 1000)


class _Asked(dict[str, str]):
    """An environment that notes the name of every variable looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return super().__contains__(key)


def _variables() -> frozenset[str]:
    """Every variable :meth:`Settings.from_env` reads, found by letting it read: the checks
    of production and the reading of both a production and a local environment."""
    asked: set[str] = {"PICASSO_ENV"}
    for env in (PRODUCTION, *LOCAL_ENVS):
        environ = _Asked({"PICASSO_ENV": env})
        problems(environ)
        Settings._read(environ, env)
        asked |= environ.asked
    return frozenset(asked)


VARIABLES: frozenset[str] = _variables()
"""The name of every environment variable the settings read (derived, not listed)."""


def main(argv: list[str] | None = None) -> int:
    """``python -m picasso.settings check``: check the process environment and say so.

    Exit status 0 when the edge and the workers would accept it, 1 (with the one message
    naming every problem) when they would refuse to start."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["check"]:
        print("usage: python -m picasso.settings check", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"picasso: settings are complete and safe for PICASSO_ENV={settings.env}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
