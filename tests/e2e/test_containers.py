"""The whole system in containers (deploy/kubernetes/overlays/local, ``podman kube play``):
both images built, the overlay played under a name of this run's own, a buyer's whole path
through the containerized edge, a worker container killed and brought back by its
restartPolicy with nothing lost and nothing doubled, and everything taken down again.

Prints the wall times of the build, the play, the flow and the teardown
(deploy/README.md keeps them)."""

from __future__ import annotations

import asyncio
import email
import hashlib
import json
import mailbox
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from email import policy
from pathlib import Path

import aiohttp
import pytest

from deploy.kubernetes import podman as kube
from deploy.local.processes import WORKER_READY_LINE
from deploy.local.stack import free_ports
from picasso.domains import DOMAINS
from tests.conftest import CONTAINERS
from tests.e2e.test_purchases import settled
from tests.helpers import Api, jpeg_with_gps

# The first build (apt, pip, the emulator) takes minutes: far past the suite's timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600), CONTAINERS]

ROOT = Path(__file__).resolve().parents[2]
TAG = "test"  # localhost/picasso:test (tests/e2e/test_image.py builds the same) and -stack
TIMES: dict[str, float] = {}


def report(step: str, began: float, capsys: pytest.CaptureFixture[str] | None = None) -> None:
    TIMES[step] = time.monotonic() - began
    line = f"containers: {step} took {TIMES[step]:.1f}s"
    if capsys is not None:
        with capsys.disabled():
            print(line)
    else:
        print(line)


@pytest.fixture(scope="module")
def images() -> str:
    for tool in ("podman", "runc", "debootstrap", "node"):
        assert shutil.which(tool), f"{tool} is missing: deploy/local/install.sh installs it"
    began = time.monotonic()
    done = subprocess.run(["bash", "deploy/image/build.sh", "--stack", f"localhost/picasso:{TAG}"],
                          cwd=ROOT, env={**os.environ, "PYTHON": sys.executable,
                                         "CONTAINERS_CONF": str(kube.CONTAINERS_CONF)},
                          capture_output=True, text=True, timeout=2400, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    report("build", began)
    return TAG


@pytest.fixture
def played(images: str, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, int]]:
    """The overlay played under a prefix of this run's own; always taken down after."""
    prefix = f"pk{uuid.uuid4().hex[:8]}"
    port = free_ports(["edge"])["edge"]
    began = time.monotonic()
    try:
        kube.up(prefix, images, port)
        report("play", began, capsys)
        yield prefix, port
    finally:
        began = time.monotonic()
        problems = kube.down(prefix)
        report("teardown", began, capsys)
        left = kube.podman("pod", "ps", "--filter", f"name={prefix}-", "--format",
                           "{{.Name}}").stdout.split()
        assert not left and not problems, (left, problems)
        assert kube.podman("secret", "inspect", kube.names(prefix)[1], check=False).returncode
        assert kube.podman("network", "exists", kube.names(prefix)[0], check=False).returncode
        for pod in kube.generate.local_pods(prefix):
            assert kube.podman("volume", "exists", f"{pod}-scratch", check=False).returncode


def logs(name: str) -> str:
    done = kube.podman("logs", name, check=False)
    return done.stdout + done.stderr


async def until(check, what: str, timeout_s: float, every_s: float = 1.0,
                why=None):
    """Until ``check()`` is true; past ``timeout_s`` fails with ``why()`` (what the
    containers were doing) beside ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await asyncio.to_thread(check)
        if found:
            return found
        if time.monotonic() >= deadline:
            found = await asyncio.to_thread(why) if why is not None else ""
            raise AssertionError(f"never: {what}\n{found}")
        await asyncio.sleep(every_s)


def explain(prefix: str, *parts: str, lines: int = 40) -> str:
    """The play's containers with their states, and the last ``lines``
    of the logs of ``parts`` and of every container that is not running: what a failed
    wait needs to be understood after the play is taken down."""
    done = kube.podman("ps", "-a", "--filter", f"name={prefix}-", "--format",
                       "{{.Names}} {{.Status}}", check=False)
    told = [done.stdout.strip()]
    names = {kube.container(prefix, p) for p in parts}
    names |= {line.split()[0] for line in done.stdout.splitlines()
              if line.strip() and " Up " not in f" {line} "}
    for name in sorted(names):
        told.append(f"--- {name} (last {lines} lines)\n"
                    + "\n".join(logs(name).splitlines()[-lines:]))
    return "\n".join(told)


def readyz(port: int) -> str:
    """The edge's /readyz answer, whatever its status, or why there was none."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            return f"{answer.status} {answer.read()[:2000]!r}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code} {exc.read()[:2000]!r}"
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return repr(exc)


def state(name: str) -> dict:
    [info] = json.loads(kube.podman("inspect", name).stdout)
    return {"running": info["State"]["Running"], "restarts": info.get("RestartCount", 0),
            "pid": info["State"]["Pid"]}


def mails(prefix: str, address: str) -> dict[str, int]:
    """How many mails of each kind the SMTP sink's Maildir (in its container) holds for
    ``address``: copied out with ``podman cp`` and read as tests/e2e/test_mail.py does."""
    with tempfile.TemporaryDirectory() as copy:
        done = kube.podman("cp", f"{kube.container(prefix, 'smtp')}:/tmp/picasso/mail",
                           copy, check=False)
        if done.returncode != 0:
            return {}
        box = mailbox.Maildir(Path(copy) / "mail", create=False)
        kinds: dict[str, int] = {}
        for key in box.keys():
            message = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
            if message["X-RcptTo"] == address:
                kinds[message["X-Picasso-Kind"]] = kinds.get(message["X-Picasso-Kind"], 0) + 1
        return kinds


async def test_the_whole_system_in_containers(played: tuple[str, int],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    prefix, port = played
    began = time.monotonic()
    workers = {d: kube.container(prefix, d) for d in DOMAINS}
    await until(lambda: readyz(port).startswith("200 "),
                "the containerized edge answers /readyz", 900, 2,
                lambda: explain(prefix, "edge") + f"\nlast /readyz: {readyz(port)}")
    for domain, name in workers.items():
        await until(lambda name=name: WORKER_READY_LINE.decode() in logs(name),
                    f"the {domain} worker is ready", 600, 2,
                    lambda domain=domain: explain(prefix, domain))
    report("start", began, capsys)

    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        api = Api(http, f"http://127.0.0.1:{port}")
        ada, bob = await api.register("Ada"), await api.register("Bob")
        original = jpeg_with_gps(320, 240)
        picture = await api.published(ada, original, title="Harbour", price_cents=1500)
        pid = picture["picture_id"]
        status, liked, _ = await api.call("PUT", f"/api/v1/pictures/{pid}/like", user=bob)
        assert status == 202, liked
        status, seen, _ = await api.call(
            "GET", f"/api/v1/pictures/{pid}?wait_ms=10000&after={liked['command_id']}",
            user=bob)
        assert seen["like_count"] == 1, seen

        # localstripe's webhook reaches the edge by its pod's name.
        status, started, _ = await api.call("POST", f"/api/v1/pictures/{pid}/purchases",
                                            user=bob, json={"payment_method": "pm_card_visa"})
        assert status == 202, started
        purchase = await settled(api, bob, started["purchase_id"])
        assert purchase["status"] == "completed", purchase
        status, body, answer = await api.call("GET", f"/api/v1/pictures/{pid}/original",
                                              user=bob)
        assert status == 302, body
        # The original is at the S3 pod's name, known inside the overlay's network only:
        # fetched from the edge's container, byte for byte what was uploaded.
        fetch = ("import hashlib, sys, urllib.request; "
                 "print(hashlib.sha256(urllib.request.urlopen(sys.argv[1]).read()).hexdigest())")
        done = kube.podman("exec", kube.container(prefix, "edge"), "python", "-c", fetch,
                           answer.headers["Location"])
        assert done.stdout.strip() == hashlib.sha256(original).hexdigest()

        await until(lambda: mails(prefix, ada.email) == {
            "welcome": 1, "picture_published": 1, "picture_sold": 1},
            "Ada's mails, each once", 60)
        await until(lambda: mails(prefix, bob.email) == {"welcome": 1, "receipt": 1},
                    "Bob's mails, each once", 60)
        report("flow", began, capsys)

        # A worker container killed: the likes sent while it is down wait in Kafka, and its
        # restartPolicy brings it back to apply each once. Killed as a crash or the OOM
        # killer would (SIGKILL to its process): podman 4.3 takes `podman kill` for an
        # operator's stop, which no restart policy undoes.
        fans = [await api.register(f"Fan{i}") for i in range(4)]
        reactions = workers["reactions"]
        before = state(reactions)
        assert before["running"]
        began = time.monotonic()
        os.kill(before["pid"], signal.SIGKILL)
        last = None
        for user in [bob, *fans, *fans[:2]]:  # Bob and two fans like it again: no change
            # Once enough wait unapplied past BACKLOG_MAX_AGE_S, the edge may refuse more
            # (503, Retry-After) until the service is back: a client tries again.
            for _ in range(60):
                status, last, answer = await api.call("PUT", f"/api/v1/pictures/{pid}/like",
                                                      user=user)
                if status != 503:
                    break
                await asyncio.sleep(int(answer.headers["Retry-After"]))
            assert status == 202, last
        await until(lambda: (s := state(reactions))["running"]
                    and s["restarts"] > before["restarts"],
                    "the reactions container is running again", 120)
        expected = 1 + len(fans)
        deadline = time.monotonic() + 120
        while True:
            status, seen, _ = await api.call(
                "GET", f"/api/v1/pictures/{pid}?wait_ms=10000&after={last['command_id']}")
            assert status == 200, seen
            if seen["like_count"] == expected or time.monotonic() > deadline:
                break
        assert seen["like_count"] == expected, seen  # nothing lost
        report("worker back", began, capsys)
        await asyncio.sleep(5)
        status, seen, _ = await api.call("GET", f"/api/v1/pictures/{pid}")
        assert seen["like_count"] == expected, seen  # nothing doubled
