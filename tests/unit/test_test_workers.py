"""`make test`'s test sessions (tests/conftest.py): how many, and each module in one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import MAX_SESSIONS, cores_available, pytest_xdist_auto_num_workers


def test_a_cgroup_quota_lowers_the_cores_and_none_leaves_the_affinity(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert cores_available(cpu_max) == affinity
    cpu_max.write_text("50000 100000\n")  # half a core: still one session
    assert cores_available(cpu_max) == 1
    cpu_max.write_text(f"{(affinity + 8) * 100000} 100000\n")  # more than it may run on
    assert cores_available(cpu_max) == affinity
    assert cores_available(tmp_path / "absent") == affinity


def test_three_sessions_for_two_cores_at_most_and_at_least_one() -> None:
    workers = pytest_xdist_auto_num_workers(config=None)
    assert 1 <= workers <= max(1, min(MAX_SESSIONS, cores_available() * 3 // 2))


MODULE = """
import os

def record(name):
    with open(os.environ["RAN"], "a") as ran:
        ran.write(f"{os.environ['PYTEST_XDIST_WORKER']} {name}\\n")

""" + "".join(f"def test_{n}():\n    record(__name__)\n\n" for n in range(6))


def test_a_modules_tests_run_in_one_session(tmp_path: Path) -> None:
    """`--dist loadgroup` with the suite's grouping (tests/conftest.py): each module's tests on
    one worker, so its module fixtures start once. It silently stops grouping if pytest and
    pytest-xdist disagree on how a test's id is kept (pytest 9.2 with xdist 3.8 did)."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems  # noqa: F401\n")
    for name in ("test_one", "test_two", "test_three"):
        (tmp_path / f"{name}.py").write_text(MODULE)
    ran = tmp_path / "ran.txt"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "RAN": str(ran), "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup",
                           "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    workers: dict[str, set[str]] = {}
    lines = ran.read_text().splitlines()
    for line in lines:
        worker, module = line.split()
        workers.setdefault(module, set()).add(worker)
    assert len(lines) == 18
    assert all(len(ran_on) == 1 for ran_on in workers.values()), workers
