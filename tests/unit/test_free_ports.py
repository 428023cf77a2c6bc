"""Ports for test servers (deploy.local.servers.base.free_ports): distinct, and reserved so
that another of Picasso's processes (pytest-xdist runs several) does not choose one too
before its server binds it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from deploy.local.servers import base
from deploy.local.servers.base import RESERVATION_S, RESERVED_DIR, free_ports


def test_a_port_handed_out_is_not_handed_out_again_by_any_process() -> None:
    mine = set(free_ports([f"s{n}" for n in range(20)]).values())
    assert len(mine) == 20
    assert all((RESERVED_DIR / str(port)).exists() for port in mine)
    # Another process choosing many ports gets none of these, whatever the kernel offers.
    code = ("from deploy.local.servers.base import free_ports;"
            "print(*free_ports([f's{n}' for n in range(200)]).values())")
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert len(set(theirs)) == 200 and not mine & {int(port) for port in theirs}


def test_a_reservation_is_taken_once_until_it_is_old() -> None:
    port = 1  # never one the kernel hands out for a bind to port 0
    (RESERVED_DIR / str(port)).unlink(missing_ok=True)
    assert base._reserve(port)
    assert not base._reserve(port)
    old = time.time() - RESERVATION_S - 1
    os.utime(RESERVED_DIR / str(port), (old, old))
    assert base._reserve(port)
    (RESERVED_DIR / str(port)).unlink()
