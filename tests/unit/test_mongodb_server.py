"""The MongoDB server's runner reads the TTL pass interval from the config file the stack
writes (the integration test, tests/integration/test_inbox_retention.py, sees the pass)."""

from __future__ import annotations

from pathlib import Path

from deploy.local.mongodb_server import ttl_sweep_seconds
from deploy.local.servers import mongodb
from deploy.local.servers.base import Site


def site(tmp_path: Path, **given) -> Site:
    return Site("mongodb", 27017, tmp_path, tmp_path, log_file=None, log=print, **given)


def test_the_interval_the_stack_asks_for_is_the_one_the_runner_reads(tmp_path: Path) -> None:
    launch = mongodb.prepare(site(tmp_path, ttl_sweep_s=2.5))
    assert launch.argv[1:3] == ["-m", "deploy.local.mongodb_server"]
    assert ttl_sweep_seconds(launch.argv[3:]) == 2.5
    # make run's stack: mongod's minute, written out all the same.
    assert ttl_sweep_seconds(mongodb.prepare(site(tmp_path)).argv[3:]) == 60.0


def test_no_config_or_no_interval_leaves_the_server_its_default(tmp_path: Path) -> None:
    assert ttl_sweep_seconds(["--port", "1"]) is None
    config = tmp_path / "secantusd.toml"
    config.write_text("[storage]\ncache_size = '256M'\n")
    assert ttl_sweep_seconds(["--config", str(config)]) is None
