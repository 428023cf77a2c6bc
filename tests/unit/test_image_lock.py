"""The image's runtime lock is the closure of setup.cfg's install_requires, at the versions
of requirements.lock (deploy/image/lock.py)."""

from deploy.image import lock


def test_the_runtime_lock_is_up_to_date() -> None:
    assert lock.main(["--check"]) == 0, "run python -m deploy.image.lock"


def test_the_runtime_lock_is_a_part_of_the_full_lock() -> None:
    full = set(lock.FULL.read_text().split())
    runtime = [line for line in lock.RUNTIME.read_text().splitlines() if "==" in line]
    assert runtime and set(runtime) <= full
    names = {line.split("==")[0].lower() for line in runtime}
    assert {"faust-streaming", "aiohttp", "motor"} <= names
    assert not names & {"pytest", "moto", "localstripe", "schemathesis", "kubernetes-validate"}
