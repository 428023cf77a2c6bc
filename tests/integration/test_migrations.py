"""Migrations are an explicit step: ``faust -A agents.purchases.app migrate``. A purchases
worker on a ledger that lacks one refuses to start and says what to run."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from deploy.local.processes import ProcessError, Worker, faust_command, migrate
from deploy.local.stack import Stack


def test_a_purchases_worker_refuses_an_unmigrated_ledger_until_migrate_runs(
        stack: Stack, system_env: dict[str, str], tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    shards = [f"{stack.mysql_url}/picasso_mig_{run}_s{n}" for n in (0, 1)]
    env = {**system_env, "MYSQL_SHARDS": ",".join(shards),
           "PICASSO_APP_ID": f"picasso-mig-{run}", "PICASSO_TOPIC_PREFIX": f"mig{run}."}
    refused = Worker(f"mig-{run}", env, tmp_path / "refused.log", tmp_path / "f1", "purchases")
    refused.start()
    try:
        refused.proc.wait(timeout=90)
    finally:
        refused.kill()
    assert refused.proc.returncode not in (0, None), refused.tail()
    assert "run `faust -A agents.purchases.app migrate` first" in refused.tail(80)

    first = migrate(env)
    assert first == [f"migrate: shard {n}: applied 1, 2, 3" for n in (0, 1)], first
    assert migrate(env) == [f"migrate: shard {n}: applied nothing (up to date)"
                            for n in (0, 1)]
    worker = Worker(f"mig-{run}", env, tmp_path / "started.log", tmp_path / "f2", "purchases")
    worker.start()
    try:
        worker.wait_ready()
        assert worker.running()
    finally:
        worker.stop()


def test_migrate_fails_loudly_when_a_shard_cannot_be_reached(
        system_env: dict[str, str]) -> None:
    env = {**system_env, "MYSQL_SHARDS": "mysql://root@127.0.0.1:1/nowhere"}
    with pytest.raises(ProcessError, match="migrate exited with 1"):
        migrate(env, timeout_s=120)


def _purchases_command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*faust_command("purchases"), *args], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_a_shard_appended_gets_buckets_from_the_purchases_apps_commands(
        stack: Stack, system_env: dict[str, str]) -> None:
    """The operator's way to grow the ledger: append a DSN, migrate, move buckets."""
    run = uuid.uuid4().hex[:8]
    shards = [f"{stack.mysql_url}/picasso_grow_{run}_s{n}" for n in (0, 1)]
    one = {**system_env, "MYSQL_SHARDS": shards[0]}
    two = {**system_env, "MYSQL_SHARDS": ",".join(shards)}
    migrate(one)
    migrate(two)  # the appended shard gets its schema, and no bucket yet
    shown = _purchases_command(two, "ledger-buckets")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "shard 0: 4096 owned, 0 moving" in shown.stdout
    assert "shard 1: 0 owned, 0 moving" in shown.stdout

    planned = _purchases_command(two, "ledger-move-buckets", "--to", "1", "--count", "16",
                                 "--dry-run")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "shard 1: 0 owned" in _purchases_command(two, "ledger-buckets").stdout
    moved = _purchases_command(two, "ledger-move-buckets", "--to", "1", "--count", "16")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    shown = _purchases_command(two, "ledger-buckets")
    assert "shard 0: 4080 owned, 0 moving" in shown.stdout, shown.stdout
    assert "shard 1: 16 owned, 0 moving" in shown.stdout, shown.stdout
    bad = _purchases_command(two, "ledger-move-buckets")
    assert bad.returncode != 0 and "--to" in bad.stderr
