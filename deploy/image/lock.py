"""The runtime set of the lock: what the image installs.

``requirements.lock`` pins everything a developer installs (tests, benchmarks, the local
servers); ``requirements-runtime.lock`` is the part of it that Picasso's own processes
import: the closure of ``install_requires`` in setup.cfg, at the versions of
``requirements.lock``. ``python -m deploy.image.lock`` writes it from the installed
packages' metadata; ``--check`` fails when it is out of date (the tests run it).
"""

from __future__ import annotations

import configparser
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "requirements.lock"
RUNTIME = ROOT / "requirements-runtime.lock"
HEADER = ("# The runtime set of requirements.lock (what the image installs); written by\n"
          "# `python -m deploy.image.lock` from setup.cfg's install_requires; do not edit.\n")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _roots() -> list[Requirement]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return [Requirement(line) for line in cfg["options"]["install_requires"].splitlines()
            if line.strip()]


def closure() -> set[str]:
    """The normalized names of the packages install_requires needs, extras followed."""
    seen: set[str] = set()
    todo = _roots()
    while todo:
        req = todo.pop()
        if _name(req.name) in seen:
            continue
        seen.add(_name(req.name))
        try:
            needs = distribution(req.name).requires or []
        except PackageNotFoundError:
            raise SystemExit(f"{req.name} is not installed: run make install") from None
        for line in needs:
            need = Requirement(line)
            wanted = [""] + sorted(req.extras)
            if need.marker is None or any(need.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(need)
    return seen


def runtime_lock() -> str:
    pins = {_name(line.split("==")[0]): line.strip()
            for line in FULL.read_text().splitlines() if "==" in line}
    needed = closure()
    unpinned = sorted(needed - set(pins))
    if unpinned:
        raise SystemExit(f"requirements.lock does not pin {', '.join(unpinned)}")
    return HEADER + "".join(f"{pins[n]}\n" for n in sorted(needed, key=lambda n: pins[n].lower()))


def main(argv: list[str]) -> int:
    text = runtime_lock()
    if "--check" in argv:
        if not RUNTIME.exists() or RUNTIME.read_text() != text:
            print(f"{RUNTIME.name} is out of date: run python -m deploy.image.lock",
                  file=sys.stderr)
            return 1
        return 0
    RUNTIME.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
