"""The metrics' names and labels, multiprocess totals, the Prometheus configuration, and the
alert rules (checked and unit-tested by Debian's ``promtool``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import web.metrics
from deploy.local.servers import prometheus
from picasso import metrics

HERE = Path(__file__).parent


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: Debian's prometheus (deploy/local/install.sh)"
    return found


def exposed_names() -> set[str]:
    """Every sample name the process's metrics can expose."""
    names = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                    "gauge": ("",)}[family.type] if family.type in (
                        "counter", "histogram", "gauge") else ("",)
        names.update(family.name + suffix for suffix in suffixes)
    return names


def test_worker_metrics_have_the_names_and_labels_the_readme_gives() -> None:
    metrics.MESSAGES_APPLIED.labels("names-agent", "LikePicture").inc()
    metrics.MESSAGES_DEAD_LETTERED.labels("names-agent", "unknown").inc()
    metrics.MESSAGES_RETRIED.labels("names-agent", "LikePicture").inc(2)
    metrics.BATCH_SIZE.labels("names-agent").observe(7)
    metrics.BATCH_SECONDS.labels("names-agent").observe(0.02)
    metrics.MESSAGE_SECONDS.labels("names-agent", "LikePicture").observe(0.003)
    metrics.CONSUMER_LAG.labels("picasso.reactions.commands", "3").set(12)
    metrics.MAIL_SENT.labels("names-receipt").inc()
    metrics.MAIL_FAILED.labels("names-receipt").inc()
    metrics.PAYMENTS.labels("completed", "names-eur").inc()
    metrics.PAYMENT_CENTS.labels("completed", "names-eur").inc(1250)
    metrics.READY.labels("mongodb").set(1)
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    lines = set(text.decode().splitlines())
    for line in (
        'picasso_messages_applied_total{agent="names-agent",type="LikePicture"} 1.0',
        'picasso_messages_dead_lettered_total{agent="names-agent",type="unknown"} 1.0',
        'picasso_messages_retried_total{agent="names-agent",type="LikePicture"} 2.0',
        'picasso_batch_size_bucket{agent="names-agent",le="10.0"} 1.0',
        'picasso_batch_handling_seconds_count{agent="names-agent"} 1.0',
        'picasso_message_handling_seconds_count{agent="names-agent",type="LikePicture"} 1.0',
        'picasso_consumer_lag{partition="3",topic="picasso.reactions.commands"} 12.0',
        'picasso_mail_sent_total{kind="names-receipt"} 1.0',
        'picasso_mail_failed_total{kind="names-receipt"} 1.0',
        'picasso_payments_total{currency="names-eur",outcome="completed"} 1.0',
        'picasso_payment_cents_total{currency="names-eur",outcome="completed"} 1250.0',
        'picasso_ready{dependency="mongodb"} 1.0',
    ):
        assert line in lines, line
    assert not any("_created" in line for line in lines)


def test_every_metric_the_alert_rules_use_is_exposed() -> None:
    used = set(re.findall(r"\bpicasso_[a-z_]+", prometheus.RULES.read_text()))
    assert used, "no picasso_ metric in the rules"
    assert used - exposed_names() == set()
    assert "picasso_http_requests_total" in used and web.metrics.HTTP_REQUESTS


MULTIPROCESS_CHILD = """
import sys
from picasso.metrics import mark_started
from web.metrics import COMMANDS_SENT, LIVE_STREAMS
mark_started()
COMMANDS_SENT.labels("LikePicture").inc(int(sys.argv[1]))
LIVE_STREAMS.inc(int(sys.argv[1]))
"""


def test_processes_sharing_a_directory_report_their_totals(tmp_path: Path) -> None:
    """Two edges that count into one directory: either's scrape shows the sum, and one start
    time per live process; a process marked dead leaves its counts, not its live gauges."""
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(HERE.parents[1])}
    for n in (2, 3):
        child = subprocess.run([sys.executable, "-c", MULTIPROCESS_CHILD, str(n)], env=env,
                               check=True, capture_output=True, timeout=60)
        assert child.returncode == 0
    pids = sorted(int(p.stem.rsplit("_", 1)[1]) for p in tmp_path.glob("gauge_liveall_*.db"))
    assert len(pids) == 2
    render = ("from picasso.metrics import exposition; "
              "import sys; sys.stdout.write(exposition()[0].decode())")

    def scrape() -> str:
        return subprocess.run([sys.executable, "-c", render], env=env, check=True,
                              capture_output=True, text=True, timeout=60).stdout

    text = scrape()
    assert 'picasso_commands_sent_total{type="LikePicture"} 5.0' in text
    assert "picasso_live_streams 5.0" in text
    assert started_pids(text) == pids
    metrics.mark_process_dead(pids[0], str(tmp_path))
    text = scrape()
    assert 'picasso_commands_sent_total{type="LikePicture"} 5.0' in text
    assert started_pids(text) == pids[1:]


def started_pids(text: str) -> list[int]:
    """The processes with a start time (the scraping one has none: it never started)."""
    found = re.findall(r'^picasso_process_started_time_seconds\{pid="(\d+)"\} (\S+)$', text,
                       re.M)
    return sorted(int(pid) for pid, value in found if float(value) > 0)


def test_prometheus_scrapes_the_listed_targets_with_the_rules(tmp_path: Path) -> None:
    config = prometheus.config(tmp_path)
    assert config["rule_files"] == [str(prometheus.RULES)]
    jobs = {job["job_name"]: job["file_sd_configs"][0]["files"][0]
            for job in config["scrape_configs"]}
    assert set(jobs) == {"edge", "worker"}
    path = prometheus.write_targets(tmp_path, "worker",
                                    [("127.0.0.1:9301", {"service": "users"})])
    assert str(path) == jobs["worker"]
    assert json.loads(path.read_text()) == [
        {"targets": ["127.0.0.1:9301"], "labels": {"service": "users"}}]
    with pytest.raises(ValueError):
        prometheus.write_targets(tmp_path, "database", [])


def test_the_alert_rules_are_valid() -> None:
    checked = subprocess.run([promtool(), "check", "rules", str(prometheus.RULES)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alert_rules_fire_when_they_should() -> None:
    """tests/unit/alerts_test.yml: down, not ready, lag, dead letters, 5xx; and not before."""
    tested = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], cwd=HERE,
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
