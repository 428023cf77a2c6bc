"""The settings fail closed: local defaults for PICASSO_ENV=local/test only, and every
missing or unsafe variable named at once everywhere else (picasso.settings)."""

from __future__ import annotations

import pytest

from deploy.local.stack import SERVICES, Stack, free_ports
from picasso.settings import (
    LOCAL_DEFAULTS,
    LOCAL_ONLY,
    MIN_SECRET_CHARS,
    REQUIRED,
    VARIABLES,
    Settings,
    SettingsError,
    problems,
)

SAFE_PRODUCTION: dict[str, str] = {
    "PICASSO_ENV": "production",
    "KAFKA_BOOTSTRAP": "kafka-1.internal:9092",
    "MONGODB_URL": "mongodb://mongo.internal:27017/?tls=true",
    "MYSQL_SHARDS": "mysql://picasso@db0.internal/s0,mysql://picasso@db1.internal/s1",
    "FIREBASE_PROJECT_ID": "picasso-prod",
    "FIREBASE_API_KEY": "AIzaSy-not-a-real-key",
    "STRIPE_SECRET_KEY": "sk_live_" + "k" * 24,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 32,
    "SIGNING_KEY": "s" * MIN_SECRET_CHARS,
    "PUBLIC_BASE_URL": "https://picasso.example",
    "PUBLIC_MEDIA_URL": "https://media.picasso.example",
    "SMTP_HOST": "smtp.picasso.example",
}


def named(environ: dict[str, str]) -> str:
    """The one message from_env refuses ``environ`` with."""
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ)
    return str(refused.value)


def test_a_complete_and_safe_production_setting_is_accepted() -> None:
    assert problems(SAFE_PRODUCTION) == []
    settings = Settings.from_env(SAFE_PRODUCTION)
    assert (settings.env, settings.local) == ("production", False)
    assert settings.firebase_auth_emulator_host is None
    assert settings.stripe_api_base is None  # api.stripe.com
    assert settings.log_format == "json"


@pytest.mark.parametrize("env", ["local", "test"])
def test_local_and_test_get_the_embedded_stack(env: str) -> None:
    settings = Settings.from_env({"PICASSO_ENV": env})
    assert settings.local
    assert settings.firebase_auth_emulator_host == LOCAL_DEFAULTS["FIREBASE_AUTH_EMULATOR_HOST"]
    assert settings.stripe_api_base == LOCAL_DEFAULTS["STRIPE_API_BASE"]
    assert settings.signing_key == LOCAL_DEFAULTS["SIGNING_KEY"]
    assert settings.public_base_url == LOCAL_DEFAULTS["PUBLIC_BASE_URL"]


def test_locally_an_empty_emulator_address_means_no_emulator() -> None:
    settings = Settings.from_env({"PICASSO_ENV": "local", "FIREBASE_AUTH_EMULATOR_HOST": ""})
    assert settings.firebase_auth_emulator_host is None


@pytest.mark.parametrize("env", [None, "", "prod", "Production", "development", "testing"])
def test_any_other_environment_gets_no_defaults_and_every_variable_named(
        env: str | None) -> None:
    environ = {} if env is None else {"PICASSO_ENV": env}
    message = named(environ)
    assert "PICASSO_ENV" in message
    for name in REQUIRED:
        assert f"{name} is not set" in message


def test_production_without_anything_names_every_required_variable() -> None:
    found = problems({"PICASSO_ENV": "production"})
    assert found == [f"{name} is not set" for name in REQUIRED]


@pytest.mark.parametrize("name", REQUIRED)
def test_each_required_variable_is_named_when_missing(name: str) -> None:
    for missing in ("", "   "):
        assert problems({**SAFE_PRODUCTION, name: missing}) == [f"{name} is not set"]
    environ = dict(SAFE_PRODUCTION)
    del environ[name]
    assert problems(environ) == [f"{name} is not set"]


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("SIGNING_KEY", LOCAL_DEFAULTS["SIGNING_KEY"], "published local default"),
    ("SIGNING_KEY", "s" * (MIN_SECRET_CHARS - 1), "shorter than"),
    ("STRIPE_WEBHOOK_SECRET", LOCAL_DEFAULTS["STRIPE_WEBHOOK_SECRET"], "local default"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_picasso_local", "local default"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_short", "shorter than"),
    ("STRIPE_SECRET_KEY", LOCAL_DEFAULTS["STRIPE_SECRET_KEY"], "local (localstripe) key"),
    ("FIREBASE_AUTH_EMULATOR_HOST", "127.0.0.1:9099", "unsigned"),
    ("FIREBASE_AUTH_EMULATOR_HOST", "", "unsigned"),  # present at all
    ("FIREBASE_PROJECT_ID", "demo-picasso", "demo-*"),
    ("MAILDIR", "/var/mail/picasso", "Maildir"),
    ("MAILDIR", "", "Maildir"),  # present at all
    ("AWS_SECRET_ACCESS_KEY", LOCAL_DEFAULTS["AWS_SECRET_ACCESS_KEY"], "local (moto) key"),
    ("STRIPE_API_BASE", "http://127.0.0.1:8420", "https"),
    ("S3_ENDPOINT_URL", "http://minio.internal:9000", "https"),
    ("PUBLIC_BASE_URL", "http://picasso.example", "https"),
    ("PUBLIC_MEDIA_URL", "http://media.picasso.example", "https"),
])
def test_each_unsafe_value_is_named(name: str, value: str, reason: str) -> None:
    found = problems({**SAFE_PRODUCTION, name: value})
    assert len(found) == 1 and found[0].startswith(name) and reason in found[0]


def test_https_endpoints_are_accepted() -> None:
    settings = Settings.from_env({**SAFE_PRODUCTION, "STRIPE_API_BASE": "https://stripe.proxy",
                                  "S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com"})
    assert settings.stripe_api_base == "https://stripe.proxy"


def test_every_problem_is_in_one_message() -> None:
    environ = {**SAFE_PRODUCTION, "PICASSO_ENV": "prod", "SIGNING_KEY": "short",
               "FIREBASE_AUTH_EMULATOR_HOST": "127.0.0.1:9099", "MONGODB_URL": "",
               "STRIPE_API_BASE": "http://127.0.0.1:8420"}
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(environ)
    assert len(refused.value.problems) == 5
    for name in ("PICASSO_ENV", "SIGNING_KEY", "FIREBASE_AUTH_EMULATOR_HOST", "MONGODB_URL",
                 "STRIPE_API_BASE"):
        assert name in str(refused.value)


def test_a_value_that_does_not_parse_is_named_with_the_others() -> None:
    message = named({**SAFE_PRODUCTION, "SIGNING_KEY": "",
                     "PURCHASE_PAYMENT_TIMEOUT_S": "soon"})
    assert "SIGNING_KEY is not set" in message and "PURCHASE_PAYMENT_TIMEOUT_S" in message


def test_settings_built_directly_are_not_local() -> None:
    """Code that builds Settings itself gets no local secret and Secure cookies."""
    settings = Settings()
    assert not settings.local
    assert settings.signing_key == "" and settings.firebase_auth_emulator_host is None


def test_a_number_that_does_not_parse_names_its_variable() -> None:
    with pytest.raises(SettingsError, match="EDGE_PORT must be a whole number, not 'x'"):
        Settings.from_env({"PICASSO_ENV": "local", "EDGE_PORT": "x"})
    with pytest.raises(SettingsError, match="SMTP_TIMEOUT_S must be a number, not 'soon'"):
        Settings.from_env({"PICASSO_ENV": "local", "SMTP_TIMEOUT_S": "soon"})


def test_a_workers_group_membership_times_are_settings_with_room_for_heartbeats() -> None:
    settings = Settings.from_env({"PICASSO_ENV": "local"})
    assert (settings.broker_session_timeout_s, settings.broker_heartbeat_interval_s,
            settings.broker_rebalance_timeout_s) == (6.0, 1.0, 20.0)
    settings = Settings.from_env({"PICASSO_ENV": "local", "BROKER_SESSION_TIMEOUT_S": "30",
                                  "BROKER_HEARTBEAT_INTERVAL_S": "10"})
    assert (settings.broker_session_timeout_s, settings.broker_heartbeat_interval_s) == (30, 10)
    assert "BROKER_HEARTBEAT_INTERVAL_S (3) must be at most a third of " \
        "BROKER_SESSION_TIMEOUT_S (6)" in named({"PICASSO_ENV": "local",
                                                 "BROKER_HEARTBEAT_INTERVAL_S": "3"})
    assert "BROKER_SESSION_TIMEOUT_S must be more than 0 seconds" in named(
        {"PICASSO_ENV": "local", "BROKER_SESSION_TIMEOUT_S": "0"})


def test_the_access_log_sample_is_a_share() -> None:
    assert Settings.from_env({"PICASSO_ENV": "local"}).access_log_sample == 1
    assert Settings.from_env({"PICASSO_ENV": "local",
                              "ACCESS_LOG_SAMPLE": "0.01"}).access_log_sample == 0.01
    with pytest.raises(SettingsError, match="ACCESS_LOG_SAMPLE must be from 0 to 1, not 2.0"):
        Settings.from_env({"PICASSO_ENV": "local", "ACCESS_LOG_SAMPLE": "2"})


def test_every_variable_the_stack_sets_is_read_by_the_settings(tmp_path) -> None:
    """Nothing the embedded stack exports goes unread (or is read by a side door)."""
    env = Stack(tmp_path, ports=free_ports(SERVICES)).env()
    assert set(env) - VARIABLES == set()
    assert set(LOCAL_DEFAULTS) - VARIABLES == set()
    assert set(LOCAL_ONLY) <= VARIABLES


def test_the_variables_read_are_found_by_reading_not_listed() -> None:
    """VARIABLES comes from what from_env looks up: a few of every kind are in it."""
    for name in ("PICASSO_ENV", "MYSQL_SHARDS", "FIREBASE_AUTH_EMULATOR_HOST", "MAILDIR",
                 "BROKER_JOURNAL_DIR", "SMTP_STARTTLS", "MAIL_RETRY_DELAYS_S", "EDGE_PORT"):
        assert name in VARIABLES
    assert "MYSQL_URL" not in VARIABLES and "PATH" not in VARIABLES


def test_the_maildir_is_read_locally_and_refused_elsewhere(tmp_path) -> None:
    local = Settings.from_env({"PICASSO_ENV": "test", "MAILDIR": str(tmp_path / "mail")})
    assert local.maildir == tmp_path / "mail"
    assert Settings.from_env({"PICASSO_ENV": "local"}).maildir is None
    assert Settings.from_env(SAFE_PRODUCTION).maildir is None
    assert "MAILDIR is set" in named({**SAFE_PRODUCTION, "MAILDIR": str(tmp_path)})


def test_the_stack_points_the_shards_at_its_own_server(tmp_path) -> None:
    """A stack on other ports than make run's gets its shards on its own MariaDB."""
    ports = free_ports(SERVICES)
    stack = Stack(tmp_path, ports=ports)
    settings = Settings.from_env(stack.env())
    assert settings.mysql_shards == tuple(
        f"{stack.mysql_url}/picasso_shard{n}" for n in (0, 1))
    assert stack.mysql_url == f"mysql://root@127.0.0.1:{ports['mariadb']}"
    assert LOCAL_DEFAULTS["MYSQL_SHARDS"] == ",".join(
        Settings.from_env(Stack(tmp_path).env()).mysql_shards)


def test_each_role_needs_only_its_own_credentials() -> None:
    """The edge starts in production without the ledger's DSNs, Stripe's secret key or an
    SMTP relay; the purchases service not without the ledger, mail not without a relay."""
    from picasso.domains import DOMAINS
    from picasso.settings import REQUIRED_BY

    assert set(REQUIRED_BY) == {"edge", *DOMAINS}
    edge_only = {k: v for k, v in SAFE_PRODUCTION.items()
                 if k not in ("MYSQL_SHARDS", "STRIPE_SECRET_KEY", "SMTP_HOST")}
    assert problems(edge_only, "edge") == []
    assert problems(edge_only, "purchases") == ["MYSQL_SHARDS is not set",
                                                "STRIPE_SECRET_KEY is not set"]
    assert problems(edge_only, "mail") == ["SMTP_HOST is not set"]
    assert problems(edge_only) == [f"{name} is not set" for name in
                                   ("MYSQL_SHARDS", "STRIPE_SECRET_KEY", "SMTP_HOST")]
    with pytest.raises(SettingsError, match="MYSQL_SHARDS is not set"):
        Settings.from_env(edge_only, role="purchases")
    assert Settings.from_env(edge_only, role="edge").env == "production"


async def test_a_workers_consumer_waits_for_an_empty_fetch_as_long_as_the_setting_says(
        monkeypatch) -> None:
    """Faust fixes a worker's fetch wait at 1.5 s, which the local broker makes a delay of
    every message; the worker's consumer takes BROKER_FETCH_WAIT_S instead."""
    from picasso.service import Service

    monkeypatch.setenv("PICASSO_ENV", "local")
    monkeypatch.setenv("BROKER_FETCH_WAIT_S", "0.08")
    app = Service("reactions").app
    consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
    assert consumer._fetch_max_wait_ms == 80
    assert Settings.from_env({"PICASSO_ENV": "local"}).broker_fetch_wait_s == 0.2


@pytest.mark.parametrize("raw", ["0", "-3", "lots", "¹", "٣"])
def test_a_count_that_is_not_a_whole_number_above_zero_is_refused_by_name(raw: str) -> None:
    # "¹" and "٣" are digits to str.isdigit; a count is ASCII digits only.
    assert f"MAX_LONG_POLL_WAITERS must be a whole number above 0, not {raw!r}" in named(
        {"PICASSO_ENV": "local", "MAX_LONG_POLL_WAITERS": raw})
