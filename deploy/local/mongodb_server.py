"""Run SecantusDB's own command line, with the TTL pass interval its config file sets.

``python -m deploy.local.mongodb_server --config DIR/secantusd.toml --host … --port …``

SecantusDB (0.7.0b3, the pinned version) reads ``[storage] ttl_sweep_seconds`` from its
config file and checks it, but its command line then starts the server without it: the
server always sweeps every 60 s. This runner reads the value from the same file and gives it
to the server the command line makes (the installed package is left as it is); every other
flag and setting goes through the command line unchanged. The suite's stack sweeps every
few seconds (tests/conftest.py), ``make run``'s every 60 s, as mongod does.
"""

from __future__ import annotations

import functools
import sys
import tomllib
from pathlib import Path


def ttl_sweep_seconds(argv: list[str]) -> float | None:
    """``[storage] ttl_sweep_seconds`` of the ``--config`` file, if both are given."""
    if "--config" not in argv:
        return None
    path = Path(argv[argv.index("--config") + 1])
    with path.open("rb") as file:
        value = tomllib.load(file).get("storage", {}).get("ttl_sweep_seconds")
    return None if value is None else float(value)


def main(argv: list[str]) -> int:
    from secantus import cli

    sweep = ttl_sweep_seconds(argv)
    if sweep is not None:
        cli.SecantusDBServer = functools.partial(cli.SecantusDBServer,  # type: ignore[misc]
                                                 ttl_sweep_seconds=sweep)
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
