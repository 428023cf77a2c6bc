"""Prometheus: Debian's ``prometheus``, its configuration written here, its data in
DATA_DIR/prometheus/data.

It scrapes what the launcher lists in DATA_DIR/prometheus/targets/ (:func:`write_targets`:
the edges' port, every worker's endpoint), re-read whenever a list changes, and evaluates the
alert rules of ``deploy/prometheus/alerts.yml``. Ready when ``/-/ready`` answers 200.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from deploy.local.servers.base import REPO_ROOT, Launch, Recipe, Site, system_program

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPE_INTERVAL_S = 5
# Each job's targets, one file each: the edges (one address per port, whichever edge answers
# reports the totals of all) and the workers (one address each).
JOBS = ("edge", "worker")


def targets_dir(data_dir: Path) -> Path:
    return data_dir / "prometheus" / "targets"


def write_targets(data_dir: Path, job: str,
                  targets: Iterable[tuple[str, Mapping[str, str]]]) -> Path:
    """List ``job``'s targets (``host:port`` and its labels) for Prometheus to scrape; it
    notices the file change by itself. The file is replaced whole, never seen half-written."""
    if job not in JOBS:
        raise ValueError(f"{job!r} is not one of {JOBS}")
    folder = targets_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job}.json"
    groups = [{"targets": [address], "labels": dict(labels)} for address, labels in targets]
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(groups, indent=2) + "\n")
    os.replace(partial, path)
    return path


def config(data_dir: Path, scrape_interval_s: float = SCRAPE_INTERVAL_S) -> dict:
    """Prometheus's configuration (JSON is YAML): one job per kind of Picasso process, each
    reading its targets' file, and the alert rules."""
    interval = f"{scrape_interval_s:g}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job,
             "file_sd_configs": [{"files": [str(targets_dir(data_dir) / f"{job}.json")],
                                  "refresh_interval": "30s"}]}
            for job in JOBS
        ],
    }


def _ready(host: str, port: int) -> None:
    with urllib.request.urlopen(f"http://{host}:{port}/-/ready", timeout=2) as answer:
        if answer.status != 200:
            raise RuntimeError(f"/-/ready answered {answer.status}")


def prepare(site: Site) -> Launch:
    workdir = site.workdir
    targets = targets_dir(site.data_dir)
    targets.mkdir(parents=True, exist_ok=True)
    for job in JOBS:  # an empty list until the launcher writes one
        if not (targets / f"{job}.json").exists():
            write_targets(site.data_dir, job, [])
    config_file = workdir / "prometheus.yml"
    config_file.write_text(json.dumps(config(site.data_dir), indent=2) + "\n")
    return Launch(
        argv=[
            system_program("prometheus", package="prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address={site.host}:{site.port}",
            "--log.level=warn",
        ],
        cwd=workdir,
        probe=lambda: _ready(site.host, site.port),
    )


RECIPE = Recipe("prometheus", ready_timeout_s=60.0, prepare=prepare)
