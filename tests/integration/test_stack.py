"""The embedded stack starts real servers that answer real requests, and stop() ends them all.

One stack (free ports, a temporary data directory) serves the whole module; the last test
stops it, so the tests run in file order (pytest's default).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mailbox
import os
import queue
import re
import smtplib
import socket
import stat
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import aiosmtplib
import boto3
import firebase_admin
import pymongo
import pymysql
import pytest
import stripe
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from firebase_admin import auth

from deploy.local.processes import Process
from deploy.local.servers import firebase_auth, kafka
from deploy.local.stack import SERVICES, Stack, StackError, free_ports
from picasso.settings import LOCAL_DEFAULTS, LOCAL_PORTS, Settings

# Where localstripe's own CLI keeps its state; the stack's runner must never write it.
LOCALSTRIPE_PICKLE = Path("/tmp/localstripe.pickle")

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Every service of the embedded stack, on free ports, for this module."""
    the_stack = Stack(tmp_path_factory.mktemp("stack"), ports=free_ports(SERVICES))
    the_stack.start()
    try:
        yield the_stack
    finally:
        the_stack.stop()


def test_every_service_started(stack: Stack) -> None:
    assert set(stack.pids()) == set(SERVICES)
    assert set(stack.startup_seconds) == set(SERVICES)
    for name in SERVICES:
        assert stack.log_path(name).is_file()


def test_kafka_creates_a_topic_and_carries_a_message(stack: Stack) -> None:
    bootstrap = stack.env()["KAFKA_BOOTSTRAP"]
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    value = b"hello from the stack test"

    async def round_trip() -> tuple[set[str], bytes | None, bytes | None]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
            topics = set(await admin.list_topics())
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, value, key=b"k1")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            message = await asyncio.wait_for(consumer.getone(), 15)
        finally:
            await consumer.stop()
        return topics, message.key, message.value

    topics, key, got = asyncio.run(round_trip())
    assert topic in topics
    assert (key, got) == (b"k1", value)


def test_mongodb_inserts_and_finds(stack: Stack) -> None:
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        stack.env()["MONGODB_URL"], serverSelectionTimeoutMS=5000
    )
    try:
        pictures = client["stack_test"]["pictures"]
        inserted = pictures.insert_one({"title": "Sunflowers", "likes": 3})
        found = pictures.find_one({"_id": inserted.inserted_id})
    finally:
        client.close()
    assert found is not None
    assert (found["title"], found["likes"]) == ("Sunflowers", 3)


def test_mariadb_creates_a_table_and_queries_it(stack: Stack) -> None:
    url = urlsplit(stack.mysql_url)
    assert url.scheme == "mysql"
    conn = pymysql.connect(
        host=url.hostname, port=url.port, user=url.username, password="", charset="utf8mb4"
    )
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE stack_test")
            cur.execute(
                "CREATE TABLE stack_test.purchases (id INT PRIMARY KEY, title VARCHAR(100))"
            )
            # A four-byte character: the server must default to utf8mb4, not latin1.
            cur.execute("INSERT INTO stack_test.purchases VALUES (%s, %s)", (1, "Irises 🌸"))
            conn.commit()
            cur.execute("SELECT id, title FROM stack_test.purchases")
            rows = cur.fetchall()
    finally:
        conn.close()
    assert rows == ((1, "Irises 🌸"),)


def test_s3_puts_and_gets_an_object(stack: Stack) -> None:
    env = stack.env()
    s3 = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name=env["S3_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    bucket, key, body = env["S3_BUCKET"], "stack-test/picture.txt", b"not really a picture"
    s3.head_bucket(Bucket=bucket)  # created by the stack
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    # The public media URL serves the same object to a plain GET.
    with urllib.request.urlopen(f"{env['PUBLIC_MEDIA_URL']}/{key}", timeout=5) as response:
        assert response.read() == body


def test_firebase_auth_signs_up_a_user_whose_token_verifies(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = stack.env()
    host = env["FIREBASE_AUTH_EMULATOR_HOST"]
    email = f"stack-{uuid.uuid4().hex[:8]}@example.com"
    request = urllib.request.Request(
        f"http://{host}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=any-key",
        data=json.dumps(
            {"email": email, "password": "correct-horse", "returnSecureToken": True}
        ).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        signed_up = json.load(response)

    monkeypatch.setenv("FIREBASE_AUTH_EMULATOR_HOST", host)
    app = firebase_admin.initialize_app(
        options={"projectId": env["FIREBASE_PROJECT_ID"]},
        name=f"test-stack-{uuid.uuid4().hex[:8]}",
    )
    try:
        claims = auth.verify_id_token(signed_up["idToken"], app=app)
        assert claims["uid"] == signed_up["localId"]
        assert claims["email"] == email
        auth.delete_user(signed_up["localId"], app=app)
    finally:
        firebase_admin.delete_app(app)


def test_stripe_confirms_a_payment_and_signs_its_webhook(stack: Stack) -> None:
    env = stack.env()
    pickle_before = _file_state(LOCALSTRIPE_PICKLE)
    purchase_id = uuid.uuid4().hex
    with _webhook_receiver() as (url, deliveries):
        stack.register_stripe_webhook(url)
        client = _stripe_client(env)
        intent = client.v1.payment_intents.create(
            params={
                "amount": 1500,
                "currency": "eur",
                # localstripe takes the method here; confirm(payment_method=...) is a 500 there.
                "payment_method": "pm_card_visa",
                "metadata": {"purchase_id": purchase_id},
            },
            # Sent as real Stripe wants it; localstripe 1.15.10 ignores Idempotency-Key.
            options={"idempotency_key": f"purchase-{purchase_id}"},
        )
        assert intent.status == "requires_confirmation"
        confirmed = client.v1.payment_intents.confirm(intent.id)
        assert confirmed.status == "succeeded"
        assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
        payload, signature = _next_delivery(deliveries, "payment_intent.succeeded", intent.id)

    event = stripe.Webhook.construct_event(payload, signature, env["STRIPE_WEBHOOK_SECRET"])
    assert event.type == "payment_intent.succeeded"
    assert event.data.object.id == intent.id
    assert event.data.object.metadata["purchase_id"] == purchase_id
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, signature, "whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        tampered = payload.replace(b'"amount": 1500', b'"amount": 1')
        stripe.Webhook.construct_event(tampered, signature, env["STRIPE_WEBHOOK_SECRET"])
    assert _file_state(LOCALSTRIPE_PICKLE) == pickle_before, "the runner wrote the pickle"


def test_smtp_keeps_each_message_in_the_maildir(stack: Stack) -> None:
    env = stack.env()
    assert Path(env["MAILDIR"]).is_absolute()
    sender = Settings.from_env(env).mail_from
    token = uuid.uuid4().hex[:8]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ann@example.com"
    message["Subject"] = f"You bought Irises 🌸 ({token})"
    message["Message-ID"] = f"<{token}-sync@picasso.local>"
    message.set_content("Your picture is ready to download.\n")
    with smtplib.SMTP(env["SMTP_HOST"], int(env["SMTP_PORT"]), timeout=10) as smtp:
        refused = smtp.send_message(message, to_addrs=["ann@example.com", "bcc@example.com"])
    assert refused == {}

    # The mail agent's own client, asyncio-based.
    second = EmailMessage()
    second["From"] = sender
    second["To"] = "bob@example.com"
    second["Subject"] = f"Your picture sold ({token})"
    second["Message-ID"] = f"<{token}-async@picasso.local>"
    second.set_content("Someone bought Sunflowers.\n")
    asyncio.run(
        aiosmtplib.send(second, hostname=env["SMTP_HOST"], port=int(env["SMTP_PORT"]), timeout=10)
    )

    # Stored before the server answers 250: no waiting needed.
    box = mailbox.Maildir(env["MAILDIR"], create=False)
    stored = {m["Message-ID"]: m for m in box}
    first = stored[f"<{token}-sync@picasso.local>"]
    assert first["X-MailFrom"] == "no-reply@picasso.local"
    assert first["X-RcptTo"] == "ann@example.com, bcc@example.com"
    assert first["To"] == "ann@example.com"
    assert token in str(first["Subject"])
    assert first.get_payload(decode=True) == b"Your picture is ready to download.\n"
    assert stored[f"<{token}-async@picasso.local>"]["X-RcptTo"] == "bob@example.com"


def test_env_points_settings_at_the_stack(stack: Stack) -> None:
    env = stack.env()
    settings = Settings.from_env(env)
    ports = stack.ports
    assert settings.kafka_bootstrap == f"127.0.0.1:{ports['kafka']}"
    assert settings.mongodb_url == f"mongodb://127.0.0.1:{ports['mongodb']}"
    assert settings.blob_backend == "s3"
    assert settings.s3_endpoint_url == f"http://127.0.0.1:{ports['s3']}"
    assert settings.public_media_url == f"http://127.0.0.1:{ports['s3']}/{settings.s3_bucket}"
    assert settings.firebase_auth_emulator_host == f"127.0.0.1:{ports['firebase_auth']}"
    assert settings.firebase_project_id == "demo-picasso"
    assert settings.data_dir == stack.data_dir
    # The ledger's shards are databases on this stack's server, not on the default port.
    assert settings.mysql_shards == tuple(
        f"mysql://root@127.0.0.1:{ports['mariadb']}/picasso_shard{n}" for n in (0, 1))
    assert settings.stripe_api_base == f"http://127.0.0.1:{ports['stripe']}"
    # The local keys, and the secret localstripe signs webhooks with, are defined once.
    for name in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        assert env[name] == LOCAL_DEFAULTS[name]
    assert settings.stripe_webhook_secret == LOCAL_DEFAULTS["STRIPE_WEBHOOK_SECRET"]
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", ports["smtp"])
    assert settings.maildir == stack.maildir == stack.data_dir / "mail"


def test_stop_ends_every_process_and_frees_every_port(stack: Stack) -> None:
    # Runs last in this module: it stops the shared stack.
    pids = stack.pids()
    assert set(pids) == set(SERVICES)
    family = {pid: _descendants(pid) for pid in pids.values()}

    stack.stop()

    for name, pid in pids.items():
        assert not _alive(pid), f"{name} (pid {pid}) still runs"
        assert not [p for p in family[pid] if _alive(p)], f"{name} left children behind"
        assert not _group_members(pid), f"{name} left processes in its group"
    for name, port in stack.ports.items():
        assert _port_free(port), f"{name} port {port} still taken"
    assert stack.pids() == {}
    stack.stop()  # a second stop does nothing


def test_env_without_s3_uses_the_directory_store(tmp_path: Path) -> None:
    lean = Stack(tmp_path, ports=free_ports(["kafka"]), services=["kafka"])
    env = lean.env()
    assert env["BLOB_BACKEND"] == "dir"
    assert env["BLOB_DIR"] == str(tmp_path / "blobs")
    assert "S3_ENDPOINT_URL" not in env
    assert "FIREBASE_AUTH_EMULATOR_HOST" not in env
    assert not [name for name in env if name.startswith(("STRIPE_", "SMTP_"))]
    assert "MAILDIR" not in env and "MYSQL_SHARDS" not in env
    assert Settings.from_env(env).blob_dir == tmp_path / "blobs"


def test_a_webhook_url_given_up_front_is_registered_at_start(tmp_path: Path) -> None:
    # On its own stack: the constructor argument, and a declined card's failure event.
    pickle_before = _file_state(LOCALSTRIPE_PICKLE)
    with _webhook_receiver() as (url, deliveries):
        lean = Stack(
            tmp_path,
            ports=free_ports(["stripe"]),
            services=["stripe"],
            log=lambda _: None,
            stripe_webhook_url=url,
        )
        with lean:
            env = lean.env()
            client = _stripe_client(env)
            intent = client.v1.payment_intents.create(
                params={
                    "amount": 900,
                    "currency": "eur",
                    "payment_method": "pm_card_visa_chargeDeclined",
                }
            )
            with pytest.raises(stripe.CardError):
                client.v1.payment_intents.confirm(intent.id)
            payload, signature = _next_delivery(
                deliveries, "payment_intent.payment_failed", intent.id
            )
            event = stripe.Webhook.construct_event(
                payload, signature, env["STRIPE_WEBHOOK_SECRET"]
            )
            assert event.data.object.id == intent.id
        assert lean.pids() == {}
        with pytest.raises(StackError, match="not running"):
            lean.register_stripe_webhook(url)
    assert _file_state(LOCALSTRIPE_PICKLE) == pickle_before, "the runner wrote the pickle"


def test_the_documented_firebase_json_matches_the_local_port() -> None:
    config = json.loads((firebase_auth.FIREBASE_DIR / "firebase.json").read_text())
    auth_emulator = config["emulators"]["auth"]
    assert auth_emulator == {"host": "127.0.0.1", "port": LOCAL_PORTS["firebase_auth"]}
    assert config["emulators"]["ui"]["enabled"] is False


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lean = Stack(tmp_path, ports={"s3": port}, services=["s3"], log=lambda _: None)
        with pytest.raises(StackError, match="already in use"):
            lean.start()
    assert lean.pids() == {}


def test_a_server_that_dies_fails_the_start_and_the_rest_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for the broker binary that complains and exits at once.
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'fake tansu: cannot start' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(kafka, "tansu_binary", lambda: fake)
    lean = Stack(
        tmp_path / "data",
        ports=free_ports(["kafka", "mongodb"]),
        services=["kafka", "mongodb"],
        log=lambda _: None,
    )
    with pytest.raises(StackError) as failure:
        lean.start()
    message = str(failure.value)
    assert "kafka exited (exit code 3)" in message
    assert "fake tansu: cannot start" in message  # the log tail
    assert lean.pids() == {}
    # mongodb may have been launched meanwhile; it must not outlive the failed start.
    assert not [
        pid for pid in _all_pids() if str(tmp_path / "data" / "mongodb") in _cmdline(pid)
    ]


def test_a_server_that_dies_is_seen_dead_and_starts_again(tmp_path: Path) -> None:
    """The supervisor's view: a crashed server is not running, says how it ended, and
    start_service brings it back on the same port."""
    lean = Stack(tmp_path, ports=free_ports(["smtp"]), services=["smtp"], log=lambda _: None)
    with lean:
        first = lean.process("smtp")
        assert first is not None and lean.running("smtp")
        os.kill(first.pid, 9)
        first.proc.wait()  # as if it crashed and was collected
        assert not lean.running("smtp")
        assert first.exit_status() == "signal 9"
        lean.stop_service("smtp")
        lean.start_service("smtp")
        assert lean.running("smtp") and lean.pids()["smtp"] != first.pid
        with smtplib.SMTP("127.0.0.1", lean.ports["smtp"], timeout=10) as smtp:
            assert smtp.noop()[0] == 250
    assert lean.pids() == {}


def test_a_process_that_ignores_sigterm_is_killed_with_what_it_left_behind(
    tmp_path: Path,
) -> None:
    """The one way children are stopped (servers, workers, edges): SIGTERM, then SIGKILL
    for its whole group after the grace period; nothing it forked outlives it."""
    script = "trap '' TERM; sleep 300 & echo helper $!; while :; do sleep 1; done"
    process = Process("stubborn", ["sh", "-c", script], dict(os.environ),
                      tmp_path / "stubborn.log")
    process.start()
    said = lambda: re.search(rb"^helper (\d+)$", process.log_text(), re.M)  # noqa: E731
    process.wait_until(said, 10, "ready")
    helper = int(said().group(1))
    assert process.running() and _alive(helper)
    process.stop(timeout=0.5)
    assert not process.running()
    assert process.exit_status() == "signal 9"
    deadline = time.monotonic() + 5  # SIGKILL is delivered, then init reaps it
    while _alive(helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(helper), "the helper outlived the process"
    assert not _group_members(process.pid)


# -- Stripe helpers -------------------------------------------------------------------------


def _stripe_client(env: dict[str, str]) -> stripe.StripeClient:
    return stripe.StripeClient(
        env["STRIPE_SECRET_KEY"], base_addresses={"api": env["STRIPE_API_BASE"]}
    )


@contextlib.contextmanager
def _webhook_receiver() -> Iterator[tuple[str, queue.Queue[tuple[bytes, str]]]]:
    """A tiny aiohttp server on a free 127.0.0.1 port, in its own thread and event loop.

    Yields its webhook URL and a queue of (raw body, Stripe-Signature header) per POST.
    """
    deliveries: queue.Queue[tuple[bytes, str]] = queue.Queue()

    async def receive(request: web.Request) -> web.Response:
        deliveries.put((await request.read(), request.headers.get("Stripe-Signature", "")))
        return web.Response(text="received")

    app = web.Application()
    app.router.add_post("/stripe/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook-receiver", daemon=True)
    thread.start()

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)  # the kernel picks a free port
        await site.start()
        return runner.addresses[0][1]

    try:
        port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
        yield f"http://127.0.0.1:{port}/stripe/webhook", deliveries
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _next_delivery(
    deliveries: queue.Queue[tuple[bytes, str]], event_type: str, object_id: str
) -> tuple[bytes, str]:
    """The first delivery of ``event_type`` about ``object_id`` (localstripe waits ~1 s)."""
    while True:
        try:
            payload, signature = deliveries.get(timeout=15)
        except queue.Empty:
            raise AssertionError(f"no {event_type} webhook for {object_id} in 15 s") from None
        body = json.loads(payload)
        if body.get("type") == event_type and body["data"]["object"].get("id") == object_id:
            return payload, signature


def _file_state(path: Path) -> tuple[int, int] | None:
    """(mtime in ns, size) of ``path``, or None if it does not exist."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


# -- process helpers (Linux /proc) ----------------------------------------------------------


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    """state, ppid, pgrp, ... of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for other in _all_pids():
        fields = _stat_fields(other)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(other)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _group_members(pgid: int) -> list[int]:
    members = []
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(pid)
    return members


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True

