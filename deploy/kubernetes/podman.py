"""The local overlay played by ``podman kube play`` (podman 4.3, Debian 12), and taken down.

``python -m deploy.kubernetes.podman up [--prefix picasso] [--tag latest] [--port 8080]``
``python -m deploy.kubernetes.podman down [--prefix picasso]``

``up`` makes what the overlay needs and podman does not: a network of its own
(``<prefix>-net``, a subnet podman picks), the Secret (``podman secret create <prefix>-secrets``,
a fresh ledger password and signing key; read by the pods as environment variables), the
overlay written for that subnet and prefix (:func:`deploy.kubernetes.generate.local_play`),
then plays it with each pod's fixed address (``--ip``). ``down`` undoes all of it, and only
it: ``kube down``, then the volumes of its containers, its network and its secret, which
``kube down`` leaves. The images come from ``deploy/image/build.sh --stack``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from deploy.kubernetes import generate

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "image" / "containers.conf"


def podman(*args: str, timeout: float = 300, check: bool = True,
           stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF",
                                                           str(CONTAINERS_CONF))}
    done = subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args[:3])}: {(done.stdout + done.stderr)[-3000:]}")
    return done


@dataclass
class Played:
    prefix: str
    file: Path  # the overlay as played
    network: str
    secret: str
    pods: list[str]


def names(prefix: str) -> tuple[str, str]:
    """The network and the secret of a play."""
    return f"{prefix}-net", generate.local_pod_name(prefix, "secrets")


def play_file(prefix: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{prefix}-kube.yaml"


def up(prefix: str = generate.LOCAL_PREFIX, tag: str = generate.LOCAL_TAG,
       edge_port: int = generate.LOCAL_EDGE_PORT) -> Played:
    """Make the network and the secret, write the overlay for them, play it."""
    network, secret = names(prefix)
    file = play_file(prefix)
    played = Played(prefix, file, network, secret, generate.local_pods(prefix))
    podman("network", "create", network)
    [info] = json.loads(podman("network", "inspect", network).stdout)
    subnet = info["subnets"][0]["subnet"]
    values = generate.local_secrets(prefix, secrets.token_urlsafe(24), secrets.token_urlsafe(48))
    # Podman 4.3 reads a secretKeyRef's key from a JSON object of base64 values.
    podman("secret", "create", secret, "-", stdin=json.dumps(
        {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}))
    objects = generate.local_play(prefix, subnet, edge_port, tag)
    file.write_text(generate.dump(objects))
    addresses = generate.local_addresses(prefix, subnet)
    ips = [arg for pod in played.pods for arg in ("--ip", addresses[pod])]
    podman("kube", "play", "--network", network, *ips, str(file), timeout=600)
    return played


def volumes_of(pods: list[str]) -> set[str]:
    """The named volumes the containers of ``pods`` mount (kube down leaves them)."""
    found: set[str] = set()
    for pod in pods:
        listed = podman("ps", "-a", "--filter", f"pod={pod}", "--format", "{{.ID}}",
                        check=False).stdout.split()
        if not listed:
            continue
        for c in json.loads(podman("inspect", *listed, check=False).stdout or "[]"):
            found |= {m["Name"] for m in c.get("Mounts", []) if m.get("Type") == "volume"}
    return found


def down(prefix: str = generate.LOCAL_PREFIX) -> list[str]:
    """Take down what :func:`up` made for ``prefix``; the problems met, if any."""
    network, secret = names(prefix)
    pods = generate.local_pods(prefix)
    volumes = volumes_of(pods)
    problems = []
    file = play_file(prefix)
    if file.exists():
        podman("kube", "down", str(file), check=False, timeout=600)

    def leftover() -> list[str]:
        existing = set(podman("pod", "ps", "--format", "{{.Name}}", check=False).stdout.split())
        return [pod for pod in pods if pod in existing]

    # A play that failed half-way is not known to kube down, and podman 4.3's kube down
    # sometimes stops at a busy mount: whatever is left goes by name.
    for _ in range(3):
        if not leftover():
            break
        podman("pod", "rm", "-f", "-t", "5", *leftover(), check=False, timeout=600)
    if leftover():
        problems.append(f"pods left: {', '.join(leftover())}")
    for args in (["volume", "rm", "-f", *sorted(volumes)] if volumes else None,
                 ["network", "rm", "-f", network], ["secret", "rm", secret]):
        if args is None:
            continue
        done = podman(*args, check=False)
        if done.returncode != 0 and "no such" not in done.stderr and "not found" not in \
                done.stderr:
            problems.append(done.stderr.strip())
    file.unlink(missing_ok=True)
    return problems


def container(prefix: str, part: str) -> str:
    """The name podman gives a pod's (only) container: ``<pod>-<container>``."""
    pod = generate.local_pod_name(prefix, part)
    spec = next(o for o in yaml.safe_load_all(play_file(prefix).read_text())
                if o and o["kind"] == "Pod" and o["metadata"]["name"] == pod)
    return f"{pod}-{spec['spec']['containers'][0]['name']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.kubernetes.podman")
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--prefix", default=generate.LOCAL_PREFIX)
    parser.add_argument("--tag", default=generate.LOCAL_TAG)
    parser.add_argument("--port", type=int, default=generate.LOCAL_EDGE_PORT)
    args = parser.parse_args(argv)
    if args.command == "up":
        played = up(args.prefix, args.tag, args.port)
        print(f"played {played.file} on {played.network}: {len(played.pods)} pods; "
              f"the edge on http://127.0.0.1:{args.port}")
        return 0
    problems = down(args.prefix)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
