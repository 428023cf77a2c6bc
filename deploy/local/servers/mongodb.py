"""MongoDB: SecantusDB's ``secantusd-py`` (through :mod:`deploy.local.mongodb_server`, which
honours the config file's TTL pass interval), its files in DATA_DIR/mongodb/data.

Ready when it answers the ``ping`` command (pymongo).
"""

from __future__ import annotations

import sys

from deploy.local.servers.base import Launch, Recipe, Site, python_env


def _ping(url: str) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def prepare(site: Site) -> Launch:
    # An explicit config file turns off secantusd's search for ./secantusd.toml,
    # ~/.secantus/ and /etc/secantus/, so nothing outside DATA_DIR changes this server.
    config = site.workdir / "secantusd.toml"
    config.write_text("# Written by deploy.local.stack; the flags carry the other settings.\n"
                      f"[storage]\nttl_sweep_seconds = {site.ttl_sweep_s!r}\n")
    url = f"mongodb://{site.host}:{site.port}"
    return Launch(
        argv=[
            sys.executable, "-m", "deploy.local.mongodb_server",
            "--config", str(config),
            "--host", site.bind,
            "--port", str(site.port),
            "--storage-path", str(site.workdir / "data"),
        ],
        cwd=site.workdir,
        env=python_env(),
        probe=lambda: _ping(url),
    )


RECIPE = Recipe("mongodb", ready_timeout_s=30.0, prepare=prepare)
