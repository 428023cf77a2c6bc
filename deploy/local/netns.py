"""Hosts made of Linux network namespaces, for running Picasso's processes as on several
machines: each host a namespace with one address on a private /24, all joined by veth pairs
to a bridge that lives in a namespace of its own (the machine's own network is untouched).

A process runs on a host through ``ip netns exec <namespace> <argv>`` (:func:`exec_argv`,
which execs, so the pid is the program's own); code of ours reaches a host's addresses from
a thread that has entered a namespace (:func:`call_in`: ``setns(2)`` moves only the calling
thread). Needs root and iproute2's ``ip``::

    with Hosts.create(["stores", "w1", "w2", "edge"]) as hosts:
        hosts.address("stores")          # 10.x.y.2
        hosts.cut("w1"); hosts.mend("w1")  # its link down, then up again
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import random
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000  # <sched.h>
NETNS_DIR = "/run/netns"  # where `ip netns add` keeps its namespaces
DEVICE = "eth0"  # each host's end of its veth pair, inside its namespace
BRIDGE = "br0"  # the bridge, inside the bridge's namespace
_IP_TIMEOUT_S = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """A namespace, link or address could not be made or changed (carries ip's message)."""


def available() -> str | None:
    """Why hosts cannot be made here (not root, no ``ip``), or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def ip(*args: str) -> str:
    """Run ``ip <args>``; its output, or :class:`NetnsError` with its message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True,
                          timeout=_IP_TIMEOUT_S, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def exec_argv(namespace: str | None, argv: list[str]) -> list[str]:
    """``argv`` run inside ``namespace`` (unchanged when None)."""
    return argv if namespace is None else ["ip", "netns", "exec", namespace, *argv]


def call_in(namespace: str | None, fn: Callable[[], T], timeout_s: float = 120.0) -> T:
    """``fn()`` called on a thread of its own inside ``namespace`` (here when None): the
    sockets it opens are the namespace's. Its result, or its exception raised again."""
    if namespace is None:
        return fn()
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise NetnsError(f"setns({namespace}): {os.strerror(err)}")
            finally:
                os.close(fd)
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"{getattr(fn, '__name__', fn)} in {namespace} took over "
                           f"{timeout_s:.0f}s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _used_networks() -> list[ipaddress.IPv4Network]:
    used = []
    for line in ip("-4", "route", "show", "table", "all").splitlines():
        first = line.split()[0] if line.split() else ""
        if first in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            first = line.split()[1]
        try:
            used.append(ipaddress.ip_network(first, strict=False))
        except ValueError:  # "default" and the like
            continue
    return used


def free_subnet(rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that overlaps none of this machine's routes."""
    rng = rng or random.SystemRandom()
    used = _used_networks()
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{rng.randrange(100, 250)}.{rng.randrange(1, 255)}.0/24")
        if not any(net.overlaps(other) for other in used):
            return net
    raise NetnsError("no free 10.x.y.0/24 among 200 tries")


class Hosts:
    """Named hosts (one namespace each, ``<prefix>-<name>``) on one bridge; :meth:`close`
    (or leaving the ``with``) deletes every namespace, and so every link, it made."""

    def __init__(self, prefix: str, subnet: ipaddress.IPv4Network) -> None:
        self.prefix = prefix
        self.subnet = subnet
        self.bridge_ns = f"{prefix}-br"
        self._addresses: dict[str, str] = {}
        self._made: list[str] = []

    @classmethod
    def create(cls, names: Iterable[str], prefix: str | None = None,
               subnet: ipaddress.IPv4Network | None = None) -> Self:
        """Make the bridge and one host per name; on any failure whatever was made is
        deleted again before the error is raised."""
        why = available()
        if why is not None:
            raise NetnsError(why)
        hosts = cls(prefix or f"pic-{uuid.uuid4().hex[:8]}", subnet or free_subnet())
        try:
            hosts._add_namespace(hosts.bridge_ns)
            ip("-n", hosts.bridge_ns, "link", "add", BRIDGE, "type", "bridge")
            ip("-n", hosts.bridge_ns, "link", "set", BRIDGE, "up")
            for name in names:
                hosts._add_host(name)
        except BaseException:
            hosts.close()
            raise
        return hosts

    def namespace(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def address(self, name: str) -> str:
        """The host's address on the bridge's /24."""
        return self._addresses[name]

    @property
    def names(self) -> list[str]:
        return list(self._addresses)

    def cut(self, name: str) -> None:
        """Take the host's link down (``ip link set eth0 down`` inside it): it can reach no
        other host and none can reach it; its processes keep running."""
        ip("-n", self.namespace(name), "link", "set", DEVICE, "down")

    def mend(self, name: str) -> None:
        """Bring the host's link up again."""
        ip("-n", self.namespace(name), "link", "set", DEVICE, "up")

    def close(self) -> None:
        """Delete every namespace made (their veth ends go with them)."""
        errors = []
        for namespace in reversed(self._made):
            try:
                ip("netns", "delete", namespace)
            except NetnsError as exc:
                errors.append(str(exc))
        self._made.clear()
        if errors:
            raise NetnsError("; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _add_namespace(self, namespace: str) -> None:
        ip("netns", "add", namespace)
        self._made.append(namespace)
        ip("-n", namespace, "link", "set", "lo", "up")

    def _add_host(self, name: str) -> None:
        if name in self._addresses:
            raise ValueError(f"host {name!r} twice")
        number = len(self._addresses) + 2  # .1 is left for a gateway nobody needs
        address = str(self.subnet.network_address + number)
        namespace = self.namespace(name)
        self._add_namespace(namespace)
        port = f"v{number}"  # the bridge's end, named inside the bridge's namespace
        # Made inside the bridge's namespace with its peer put straight into the host's:
        # no link ever appears in the machine's own namespace.
        ip("-n", self.bridge_ns, "link", "add", port, "type", "veth",
           "peer", "name", DEVICE, "netns", namespace)
        ip("-n", self.bridge_ns, "link", "set", port, "master", BRIDGE)
        ip("-n", self.bridge_ns, "link", "set", port, "up")
        ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", DEVICE)
        ip("-n", namespace, "link", "set", DEVICE, "up")
        self._addresses[name] = address
