"""Safe by default, with real processes: the edge and the workers refuse to start on missing
or unsafe settings, a production edge refuses forged unsigned ID tokens, and /readyz names a
dependency that is down without answering its error."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from deploy.local.processes import WORKER_READY_LINE, Edge, Worker, faust_command
from deploy.local.stack import free_ports
from picasso.domains import DOMAINS
from picasso.settings import LOCAL_ONLY, REQUIRED, REQUIRED_BY

REPO = Path(__file__).resolve().parents[2]
EDGE = [sys.executable, "-m", "web"]
WORKER = [*faust_command("purchases"), "worker", "-l", "info", "--without-web"]
# A refusal happens before anything connects; this leaves room for a loaded machine.
REFUSAL_TIMEOUT_S = 60.0
# The variables a production deployment must not take from the stack the tests run.
STACK_ONLY = (*LOCAL_ONLY, "STRIPE_API_BASE", "S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
              "AWS_SECRET_ACCESS_KEY")


def bare_env(**settings: str) -> dict[str, str]:
    """Only what runs Python here (none of our settings), plus ``settings``."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "PYTHONUNBUFFERED": "1",
            **settings}


def refused(argv: list[str], env: dict[str, str]) -> str:
    """Run a process that must refuse to start: its exit status is not 0, quickly; its output."""
    began = time.monotonic()
    done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=REFUSAL_TIMEOUT_S)
    assert done.returncode != 0, done.stdout + done.stderr
    assert time.monotonic() - began < REFUSAL_TIMEOUT_S
    return done.stderr


def production_env(system_env: dict[str, str], data_dir: Path, **changes: str) -> dict[str, str]:
    """A complete, safe production setting on this session's Kafka, MongoDB and MariaDB.

    Its own database names, app id and topic prefix keep it out of the session's data;
    pictures in a directory (moto's S3 answers plain http only); Stripe is api.stripe.com,
    which nothing here calls; mail goes to the session's SMTP server."""
    run = uuid.uuid4().hex[:8]
    mysql = system_env["MYSQL_SHARDS"].split(",")[0].rsplit("/", 1)[0]  # the server
    env = {k: v for k, v in system_env.items() if k not in STACK_ONLY}
    env.update(
        PICASSO_ENV="production",
        PICASSO_DATA_DIR=str(data_dir),
        PICASSO_APP_ID=f"picasso-prod-{run}",
        PICASSO_TOPIC_PREFIX=f"p{run}.",
        MONGODB_DATABASE=f"picasso_prod_{run}",
        MYSQL_SHARDS=f"{mysql}/picasso_prod_{run}_s0,{mysql}/picasso_prod_{run}_s1",
        BLOB_BACKEND="dir",
        BLOB_DIR=str(data_dir / "blobs"),
        FIREBASE_PROJECT_ID="picasso-production-check",
        FIREBASE_API_KEY="AIzaSy-not-a-real-key",
        STRIPE_SECRET_KEY="sk_test_" + secrets.token_hex(16),
        STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_hex(20),
        SIGNING_KEY=secrets.token_urlsafe(32),
        PUBLIC_BASE_URL="https://picasso.example",
        PUBLIC_MEDIA_URL="https://media.picasso.example",
        EDGE_PORT=str(free_ports(["edge"])["edge"]),
    )
    env.update(changes)
    return env


# -- refusing to start -------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "prod", "Production", "production"])
def test_the_edge_refuses_to_start_without_settings(mode: str | None) -> None:
    env = bare_env() if mode is None else bare_env(PICASSO_ENV=mode)
    message = refused(EDGE, env)
    for name in REQUIRED_BY["edge"]:
        assert f"{name} is not set" in message
    for name in set(REQUIRED) - set(REQUIRED_BY["edge"]):  # the ledger's, Stripe's key, SMTP
        assert name not in message
    if mode != "production":
        assert "PICASSO_ENV" in message
    assert message.count("picasso refuses to start") == 1  # one message
    assert "Traceback" not in message


def test_the_edge_names_every_unsafe_variable_at_once(system_env: dict[str, str],
                                                      tmp_path: Path) -> None:
    env = production_env(
        system_env, tmp_path,
        SIGNING_KEY="picasso-local-signing-key", STRIPE_WEBHOOK_SECRET="whsec_short",
        STRIPE_SECRET_KEY="sk_test_picasso_local", FIREBASE_PROJECT_ID="demo-picasso",
        FIREBASE_AUTH_EMULATOR_HOST=system_env["FIREBASE_AUTH_EMULATOR_HOST"],
        STRIPE_API_BASE=system_env["STRIPE_API_BASE"],
        S3_ENDPOINT_URL=system_env["S3_ENDPOINT_URL"],
        AWS_SECRET_ACCESS_KEY=system_env["AWS_SECRET_ACCESS_KEY"],
        MAILDIR=system_env["MAILDIR"],
        PUBLIC_BASE_URL="http://127.0.0.1:8080")
    message = refused(EDGE, env)
    for name in ("SIGNING_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY",
                 "FIREBASE_PROJECT_ID", "FIREBASE_AUTH_EMULATOR_HOST", "STRIPE_API_BASE",
                 "S3_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "MAILDIR", "PUBLIC_BASE_URL"):
        assert f"  - {name} " in message
    assert "10 setting(s)" in message


@pytest.mark.parametrize("name", REQUIRED_BY["edge"])
def test_the_edge_names_a_missing_variable(name: str, system_env: dict[str, str],
                                           tmp_path: Path) -> None:
    env = production_env(system_env, tmp_path)
    del env[name]
    message = refused(EDGE, env)
    assert f"1 setting(s) missing or unsafe:\n  - {name} is not set" in message


@pytest.mark.parametrize("mode", [None, "prod"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_each_services_worker_refuses_to_start_without_its_settings(
        mode: str | None, domain: str) -> None:
    env = bare_env() if mode is None else bare_env(PICASSO_ENV=mode)
    message = refused([*faust_command(domain), "worker", "-l", "info", "--without-web"], env)
    assert "PICASSO_ENV" in message
    for name in REQUIRED:
        assert (f"{name} is not set" in message) == (name in REQUIRED_BY[domain]), name


def test_the_worker_refuses_the_emulator_in_production(system_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    env = production_env(system_env, tmp_path, SIGNING_KEY="short",
                         FIREBASE_AUTH_EMULATOR_HOST=system_env["FIREBASE_AUTH_EMULATOR_HOST"])
    message = refused(WORKER, env)
    assert "2 setting(s)" in message
    assert "SIGNING_KEY is shorter" in message
    assert "FIREBASE_AUTH_EMULATOR_HOST is set" in message


def test_the_check_alone_accepts_a_complete_and_safe_production_setting(
        system_env: dict[str, str], tmp_path: Path) -> None:
    env = production_env(system_env, tmp_path)
    done = subprocess.run([sys.executable, "-m", "picasso.settings", "check"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "complete and safe for PICASSO_ENV=production" in done.stdout
    del env["SIGNING_KEY"]
    done = subprocess.run([sys.executable, "-m", "picasso.settings", "check"], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "SIGNING_KEY is not set" in done.stderr


def test_a_worker_with_a_complete_and_safe_production_setting_starts(
        system_env: dict[str, str], tmp_path: Path) -> None:
    worker = Worker("worker-prod", production_env(system_env, tmp_path),
                    tmp_path / "worker.log", tmp_path / "faust", "reactions")
    worker.start()
    try:
        worker.wait_ready()
        assert b"refuses to start" not in worker.log_text()
    finally:
        worker.stop()
    assert WORKER_READY_LINE in worker.log_text()


# -- a production edge -------------------------------------------------------------------


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _serving(edge: Edge, timeout: float = 60.0) -> None:
    """Wait until the edge answers /healthz (its dependencies need not be ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert edge.running(), edge.tail()
        try:
            if _get(f"{edge.url}/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the edge did not answer in {timeout:.0f}s:\n{edge.tail()}")


@pytest.fixture
def production_edge(system_env: dict[str, str], tmp_path: Path) -> Iterator[Edge]:
    """An edge started with a complete, safe production setting (no emulator)."""
    edge = Edge("edge-prod", production_env(system_env, tmp_path), tmp_path / "edge.log")
    edge.start()
    try:
        _serving(edge)
        yield edge
    finally:
        edge.stop()


def forged_token(project_id: str, user_id: str) -> str:
    """An unsigned ID token (``alg: none``) for anyone, made by hand."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": f"https://securetoken.google.com/{project_id}", "aud": project_id,
              "sub": user_id, "user_id": user_id, "iat": now, "auth_time": now,
              "exp": now + 3600, "email": f"{user_id}@example.com"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_production_edge_refuses_a_forged_unsigned_token(
        production_edge: Edge, system: str, system_env: dict[str, str]) -> None:
    forged = forged_token("picasso-production-check", "victim")
    status, body = _get(f"{production_edge.url}/api/v1/me",
                        {"Authorization": f"Bearer {forged}"})
    assert status == 401, body
    # The same kind of token is taken by the test edge, whose emulator trusts it by design.
    local = forged_token(system_env["FIREBASE_PROJECT_ID"], "victim")
    status, body = _get(f"{system}/api/v1/me", {"Authorization": f"Bearer {local}"})
    assert status != 401, body


# -- readiness -----------------------------------------------------------------------------


def test_readyz_names_the_dependency_that_is_down_without_its_error(
        system_env: dict[str, str], tmp_path: Path) -> None:
    dead = free_ports(["auth"])["auth"]  # nothing listens there
    env = {**system_env, "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{dead}",
           "EDGE_PORT": str(free_ports(["edge"])["edge"])}
    edge = Edge("edge-auth-down", env, tmp_path / "edge.log")
    edge.start()
    try:
        _serving(edge)
        status, body = _get(f"{edge.url}/readyz")
        # Signing up meanwhile: the identity service not answering is a 503 to try again.
        signing_up = urllib.request.Request(
            f"{edge.url}/api/v1/auth/register", method="POST",
            headers={"Content-Type": "application/json"},
            data=json.dumps({"email": f"x{uuid.uuid4().hex[:8]}@example.com",
                             "password": "correct horse battery",
                             "display_name": "X"}).encode())
        try:
            urllib.request.urlopen(signing_up, timeout=10)
            raise AssertionError("signed up with the identity service down")
        except urllib.error.HTTPError as exc:
            refused = (exc.code, exc.headers.get("Retry-After"), json.loads(exc.read()))
    finally:
        edge.stop()
    assert refused[:2] == (503, "1"), refused
    assert "the identity service did not answer" in refused[2]["detail"], refused
    assert status == 503
    answer = json.loads(body)
    assert answer == {"ready": False, "checks": {"broker": "ok", "mongodb": "ok",
                                                 "blob_store": "ok", "auth": "failed"}}
    assert str(dead).encode() not in body and b"Error" not in body
    logged = [json.loads(line) for line in edge.log_text().splitlines()
              if b"dependency_not_ready" in line]
    assert logged and logged[0]["dependency"] == "auth"
    assert str(dead) in logged[0]["error"]


def test_an_edge_whose_broker_never_answers_stops_naming_the_step(
        system_env: dict[str, str], tmp_path: Path) -> None:
    """A broker address that takes connections and never answers (a hung server, a port
    held by something else): the edge does not wait there forever with no port open; it
    stops with a message naming the step, for its supervisor to start it again."""
    silent = socket.create_server(("127.0.0.1", 0))  # listens; nobody ever reads or answers
    port = silent.getsockname()[1]
    env = {**system_env, "KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "EDGE_START_TIMEOUT_S": "3",
           "EDGE_PORT": str(free_ports(["edge"])["edge"])}
    edge = Edge("edge-broker-silent", env, tmp_path / "edge.log")
    edge.start()
    try:
        edge.proc.wait(timeout=60)  # it stops by itself
    finally:
        edge.stop()
        silent.close()
    text = edge.log_text().decode()
    assert edge.exit_status() == "exit code 1", text
    assert ("the edge could not start: the broker (its topics) did not answer within "
            "EDGE_START_TIMEOUT_S (3 s)") in text, text
    [line] = [json.loads(x) for x in text.splitlines() if "edge_start_timed_out" in x]
    assert line["step"] == "the broker (its topics)" and line["level"] == "error"
