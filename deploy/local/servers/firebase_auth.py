"""Firebase Auth: the emulator of the pinned npm firebase-tools in ``deploy/local/firebase``.

Ready when ``GET /`` answers ``authEmulator.ready: true``.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

from deploy.local.servers.base import HOST, Launch, Recipe, Site, StackError, free_ports
from picasso.settings import LOCAL_DEFAULTS

FIREBASE_DIR = Path(__file__).resolve().parents[1] / "firebase"
"""Holds the pinned firebase-tools (package.json, package-lock.json, node_modules) and the
default ``firebase.json``; the per-run copy with the chosen port is written under DATA_DIR."""
PROJECT_ID = LOCAL_DEFAULTS["FIREBASE_PROJECT_ID"]


def _ready(host: str, port: int) -> None:
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=2) as response:
        body = json.load(response)
    if body.get("authEmulator", {}).get("ready") is not True:
        raise RuntimeError(f"emulator answered {body!r}")


def prepare(site: Site) -> Launch:
    cli = FIREBASE_DIR / "node_modules" / "firebase-tools" / "lib" / "bin" / "firebase.js"
    if not cli.is_file():
        raise StackError(
            f"firebase_auth: {cli} is missing; run `npm ci` in {FIREBASE_DIR} first"
        )
    node = shutil.which("node")
    if node is None:
        raise StackError("firebase_auth: `node` is not on PATH; install Node.js 20 or newer")
    workdir = site.workdir
    # The emulator takes its address from firebase.json only: write this run's copy.
    config = json.loads((FIREBASE_DIR / "firebase.json").read_text())
    config["emulators"]["auth"].update(host=site.bind, port=site.port)
    # Its hub and log server would take 4400 and 4500 (or the next free ones); two
    # stacks starting at once (tests beside `make run`) then race for them and one
    # emulator dies after saying it is ready. Free ports of their own avoid the race.
    helper_ports = free_ports(["hub", "logging"])
    config["emulators"]["hub"].update(host=HOST, port=helper_ports["hub"])
    config["emulators"]["logging"].update(host=HOST, port=helper_ports["logging"])
    config_path = workdir / "firebase.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    tmp = workdir / "tmp"
    config_home = workdir / "config"
    tmp.mkdir(exist_ok=True)
    config_home.mkdir(exist_ok=True)
    return Launch(
        # node itself, not an npx or shell wrapper, so the pid we signal is the emulator.
        argv=[
            node, str(cli), "emulators:start",
            "--only", "auth",
            "--project", PROJECT_ID,
            "--config", str(config_path),
        ],
        cwd=workdir,  # where it writes firebase-debug.log
        env={
            # CI skips the start-up fetch of the CLI's message of the day and the update
            # check; NO_UPDATE_NOTIFIER makes sure no detached npm-registry checker forks.
            "CI": "true",
            "NO_UPDATE_NOTIFIER": "1",
            # The emulator hub records itself in $TMPDIR/hub-<project>.json: a private
            # TMPDIR keeps two stacks (say `make run` and the tests) out of each other's way.
            "TMPDIR": str(tmp),
            # Its settings store (analytics consent, cached MOTD) stays in DATA_DIR too.
            "XDG_CONFIG_HOME": str(config_home),
        },
        probe=lambda: _ready(site.host, site.port),
    )


# The slowest: about 8 s on a laptop.
RECIPE = Recipe("firebase_auth", ready_timeout_s=120.0, prepare=prepare)
