"""Running Debian's ``wrk`` and reading its figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx answers and socket errors
    text: str


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, *, connections: int, seconds: int, threads: int = 2,
        script: Path | None = None, timeout_s: int = 2) -> WrkResult:
    """``timeout_s``: an answer slower than this counts as an error (wrk's default, 2 s)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: `make bench` installs it (apt package wrk)")
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", f"--timeout={timeout_s}s",
            "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    text = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", text, re.M))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       text)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", text).group(1)),
        per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
        # No answer at all within the timeout: no latency to report.
        p50_ms=_ms(latency["50"]) if "50" in latency else float("inf"),
        p99_ms=_ms(latency["99"]) if "99" in latency else float("inf"), errors=errors, text=text,
    )


def random_script(name: str, lists: dict[str, list[str]], request: str) -> Path:
    """A wrk Lua script whose ``request`` (Lua, returning ``wrk.format(...)``) picks from
    ``lists`` (each a Lua table of strings by that name) with ``math.random``; every wrk
    thread seeds its own sequence (one seed would send the same requests once per thread)."""
    tables = "\n".join(f"local {key} = {{{','.join(json.dumps(v) for v in values)}}}"
                        for key, values in lists.items())
    path = Path(tempfile.mkdtemp(prefix="picasso-wrk-")) / f"{name}.lua"
    path.write_text(f"""{tables}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
end
request = function()
{request}
end
""")
    return path
