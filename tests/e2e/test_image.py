"""Picasso's image (deploy/image): built from Debian's packages with podman and no registry,
it refuses to start unconfigured, runs unprivileged with no compiler, and runs each role
(a domain's worker, the edge) against this session's real servers."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy.local.processes import WORKER_READY_LINE
from deploy.local.stack import free_ports
from picasso.domains import DOMAINS, app_module, worker_args
from picasso.mongo import LIKE_COUNTS, REACTIONS_PROCESSED
from tests.conftest import CONTAINERS
from tests.integration.delivery import isolated, send_all, wait_sent
from tests.integration.test_reactions_delivery import random_reactions
from topics import REACTIONS_COMMANDS

pytestmark = [pytest.mark.slow, CONTAINERS]

ROOT = Path(__file__).resolve().parents[2]
TAG = "localhost/picasso:test"
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "image" / "containers.conf")}
# Paths of this machine that mean nothing in a container: the image's own instead.
IN_CONTAINER = {"PICASSO_DATA_DIR": "/tmp/picasso", "BROKER_JOURNAL_DIR": "/tmp/picasso/journal"}


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], env=PODMAN_ENV, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def image() -> str:
    for tool in ("podman", "runc", "debootstrap"):
        assert shutil.which(tool), f"{tool} is missing: deploy/local/install.sh installs it"
    done = subprocess.run(["bash", "deploy/image/build.sh", TAG], cwd=ROOT, env=PODMAN_ENV,
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return TAG


def settings_args(env: dict[str, str]) -> list[str]:
    """``-e`` options with Picasso's settings of ``env`` (not this process's environment)."""
    mine = {k: v for k, v in env.items() if os.environ.get(k) != v}
    mine.update({k: v for k, v in IN_CONTAINER.items() if k in mine})
    return [arg for k, v in sorted(mine.items()) for arg in ("-e", f"{k}={v}")]


def run_detached(name: str, env: dict[str, str], image: str, *command: str) -> None:
    """A container on the host's network (this session's servers are on 127.0.0.1), with a
    read-only root file system and a scratch /tmp, as the manifests run it."""
    podman("run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
           *settings_args(env), image, *command)


def test_the_image_refuses_to_start_unconfigured(image: str) -> None:
    done = podman("run", "--rm", "--network", "none", image, "python", "-m", "picasso.settings",
                  "check", check=False)
    assert done.returncode == 1
    assert "PICASSO_ENV is not set" in done.stdout + done.stderr


def test_the_image_runs_unprivileged_without_a_compiler(image: str) -> None:
    done = podman("run", "--rm", "--network", "none", image, "sh", "-c",
                  "id -u; for c in gcc cc g++ make pytest; do command -v $c; done; echo end")
    assert done.stdout.split() == ["10001", "end"]


def test_every_role_has_what_it_imports(image: str) -> None:
    """The runtime lock holds every package the edge, every service and the operator
    commands import (PICASSO_ENV=test: the local defaults, nothing reached)."""
    modules = ["web.app", "agents.purchases.commands", *(app_module(d) for d in DOMAINS)]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('imported', len(sys.modules))")
    done = podman("run", "--rm", "--network", "none", "-e", "PICASSO_ENV=test", image,
                  "python", "-c", code, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("imported")


async def wait_logged(name: str, line: bytes, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        logs = podman("logs", name, check=False)
        if line.decode() in logs.stdout + logs.stderr:
            return
        assert asyncio.get_running_loop().time() < deadline, (logs.stdout + logs.stderr)[-3000:]
        await asyncio.sleep(1)


async def wait_answers(url: str, timeout_s: float) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=5) as answer:
                return answer.status
        except (urllib.error.URLError, ConnectionError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1)


async def test_a_worker_and_an_edge_run_from_the_image(image: str,
                                                      system_env: dict[str, str]) -> None:
    """A reactions worker in a container applies likes exactly; an edge in a container
    serves the feed; both on this session's broker and stores, in a run of their own."""
    run, env, settings, db = await isolated(system_env, "image")
    port = free_ports(["edge"])["edge"]
    env = {**env, "EDGE_PORT": str(port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    worker, edge = f"picasso-reactions-{run}", f"picasso-edge-{run}"
    try:
        run_detached(worker, env, image, "faust", *worker_args("reactions", "/tmp/faust"))
        run_detached(edge, env, image)  # the image's default command: the edge
        await wait_logged(worker, WORKER_READY_LINE, 180)
        commands, expected = random_reactions(5, [f"img-{run}-{i}" for i in range(3)], 20, 120)
        await send_all(settings.kafka_bootstrap, REACTIONS_COMMANDS.name(settings.topic_prefix),
                       commands)
        assert await wait_sent(db, REACTIONS_PROCESSED, {c.id for c in commands}, 120) == len(
            commands)
        counts = {d["_id"]: d["like_count"] async for d in db[LIKE_COUNTS].find({})}
        assert counts == {p: n for p, n in expected.items() if n or p in counts}
        assert await wait_answers(f"http://127.0.0.1:{port}/readyz", 120) == 200
        assert await wait_answers(f"http://127.0.0.1:{port}/api/v1/pictures", 30) == 200
    finally:
        for name in (worker, edge):
            podman("rm", "-f", "-t", "5", name, check=False)
