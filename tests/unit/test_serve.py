"""A stack image container's command (deploy.local.serve) with a real child that starts
slower than its recipe's ready_timeout_s, as the identity emulator does on a busy machine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from deploy.local import serve
from deploy.local.servers.base import Launch, Recipe, Site

# Up after 2.5 s (past the recipe's 1 s), then serves for a second and ends on its own.
SLOW_START = ("import pathlib, sys, time\n"
              "time.sleep(2.5)\n"
              "pathlib.Path(sys.argv[1]).write_text('up')\n"
              "time.sleep(1)\n")


def _slow(tmp_path: Path, program: str) -> Recipe:
    marker = tmp_path / "up"

    def probe() -> None:
        if not marker.exists():
            raise ConnectionRefusedError("not yet")

    def prepare(site: Site) -> Launch:
        return Launch(argv=[sys.executable, "-c", program, str(marker)], cwd=site.workdir,
                      probe=probe)

    return Recipe("slow", ready_timeout_s=1.0, prepare=prepare)


def test_a_server_slower_than_its_timeout_is_waited_for_not_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(serve.RECIPES, "slow", _slow(tmp_path, SLOW_START))
    code = serve.main(["slow", "--port", "1", "--data-dir", str(tmp_path / "data")])
    said = capsys.readouterr().out
    assert code == 0, said
    assert "serve: slow has not answered in 1s" in said and "still starting" in said, said
    assert f"serve: slow {serve.READY_LINE} 127.0.0.1:1" in said, said


def test_a_server_that_dies_before_it_answers_ends_the_container(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(serve.RECIPES, "slow", _slow(tmp_path, "import sys; sys.exit(3)"))
    code = serve.main(["slow", "--port", "1", "--data-dir", str(tmp_path / "data")])
    assert code == 3
    assert "serve: slow exited with 3 before it answered" in capsys.readouterr().out
