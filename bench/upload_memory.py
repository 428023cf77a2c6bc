"""Issue 6, benchmark 2: the edge's memory while a user uploads a 25 MB picture.

Picasso's figure is the growth of the edge process's resident memory during one upload of
a real ~25 MB JPEG through ``POST /api/v1/pictures`` (multipart, streamed by the edge into
the blob store): the peak (VmHWM after resetting it, and VmRSS sampled every 2 ms) minus
the idle RSS measured just before, once a small upload has warmed the edge up; the worst
of three uploads. It is measured twice: with the directory store that ``make run`` uses,
and with the S3 store production uses (moto's server, a process of its own, stands in).

The floor is a bare aiohttp server in its own process (:mod:`bench.bare_upload`) that
takes the same multipart body and streams its file part to a file with the same chunk
size, measured the same way. The client is this process: it streams the body from a file,
so it never holds the picture, and it is another process than the one measured anyway.

    .venv/bin/python -m bench.upload_memory
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from PIL import Image

from bench.system import machine, running
from deploy.local.stack import free_ports
from tests.helpers import Api, User, jpeg_with_gps
from web.routes.pictures import _CHUNK

TARGET_MB = 10.0
UPLOAD_BYTES = 25 * 1024 * 1024
RUNS = 3
SAMPLE_EVERY_S = 0.002
SERVICES = ("kafka", "mongodb", "mariadb", "firebase_auth")  # what the edge waits for
STORES = {"dir": "directory store", "s3": "S3 store (moto)"}  # make run's, and production's
_MB = 1024 * 1024


def big_jpeg(path: Path, target_bytes: int = UPLOAD_BYTES) -> int:
    """Write a real JPEG of about ``target_bytes`` (a grainy photo at quality 100).

    Grain at full quality and full chroma costs about 3.3 bytes a pixel, so the size
    is chosen from that and the quality nudged until the file is within 5% of the target.
    """
    pixels = target_bytes / 3.2
    width = int((pixels * 4 / 3) ** 0.5) // 16 * 16
    height = width * 3 // 4
    size = (width, height)
    base = Image.merge("RGB", (Image.linear_gradient("L").resize(size),
                               Image.radial_gradient("L").resize(size),
                               Image.linear_gradient("L").resize(size).rotate(90)))
    grain = Image.merge("RGB", [Image.effect_noise(size, sigma) for sigma in (60, 70, 80)])
    picture = Image.blend(base, grain, 0.5)
    for quality in (100, 98, 96, 94, 92, 90):
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=quality, subsampling="4:4:4")
        if out.tell() <= target_bytes * 1.05:
            break
    path.write_bytes(out.getvalue())
    return out.tell()


# -- reading a process's memory ------------------------------------------------------------

def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "VmRSS") / 1024


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current RSS (Linux: ``5`` to clear_refs)."""
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")


class Sampler:
    """VmRSS of ``pid`` every 2 ms in a thread, while the upload runs on the event loop."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mb(self.pid))
            time.sleep(SAMPLE_EVERY_S)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- one measured upload --------------------------------------------------------------------

@dataclass
class Target:
    """Where to POST the multipart body, and the pid whose memory is measured."""

    url: str
    pid: int
    headers: dict[str, str]


def form(path: Path) -> aiohttp.FormData:
    """The multipart body the API expects; the file part streams from disk."""
    body = aiohttp.FormData()
    body.add_field("title", "Harbour at 6 am")
    body.add_field("price_cents", "500")
    body.add_field("tags", "sea,boats")
    body.add_field("file", path.open("rb"), filename=path.name, content_type="image/jpeg")
    return body


async def post(http: aiohttp.ClientSession, target: Target, path: Path) -> None:
    async with http.post(target.url, data=form(path), headers=target.headers) as answer:
        text = await answer.text()
        if answer.status not in (200, 201, 202):
            raise RuntimeError(f"upload to {target.url} answered {answer.status}: {text}")


async def measure(http: aiohttp.ClientSession, target: Target, small: Path,
                  big: Path) -> dict:
    """Idle, peak and peak-minus-idle (MB) of one big upload, after two small ones."""
    for _ in range(2):  # imports, connection pools, executor threads, allocator
        await post(http, target, small)
    await asyncio.sleep(0.3)
    idle = rss_mb(target.pid)
    reset_peak(target.pid)
    started = time.perf_counter()
    with Sampler(target.pid) as sampler:
        await post(http, target, big)
        await asyncio.sleep(0.05)  # a last sample after the answer
    seconds = time.perf_counter() - started
    peak = max(_status_kb(target.pid, "VmHWM") / 1024, *sampler.samples)
    return {"idle_mb": idle, "peak_mb": peak, "growth_mb": peak - idle,
            "samples": len(sampler.samples), "seconds": seconds}


async def measure_runs(target: Target, small: Path, big: Path) -> dict:
    """The worst of RUNS uploads (by growth), each with its own idle reading.

    The worst, not the median: memory freed after one upload is often reused by the next
    without growing, so later runs can understate what an upload costs.
    """
    async with aiohttp.ClientSession() as http:
        runs = [await measure(http, target, small, big) for _ in range(RUNS)]
    worst = max(runs, key=lambda run: run["growth_mb"])
    return {**worst, "growth_runs_mb": [round(run["growth_mb"], 1) for run in runs]}


# -- Picasso's edge -------------------------------------------------------------------------

async def _register(edge_url: str) -> User:
    async with aiohttp.ClientSession() as http:
        return await Api(http, edge_url).register("Bench")


def picasso(small: Path, big: Path, store: str = "dir") -> dict:
    """The edge with ``store`` as its blob store: ``dir`` (``make run``) or ``s3`` (moto)."""
    extra = {"MAX_UPLOAD_BYTES": str(64 * _MB), "LOG_LEVEL": "warning"}
    services = SERVICES + (("s3",) if store == "s3" else ())
    with running(workers=0, edges=1, services=services, extra_env=extra) as system:
        assert system.settings.blob_backend == store
        user = asyncio.run(_register(system.edge_url))
        target = Target(f"{system.edge_url}/api/v1/pictures", system.edges[0].pid, user.auth)
        return asyncio.run(measure_runs(target, small, big))


# -- the floor: a bare aiohttp handler streaming the file part to disk ------------------------

def floor(small: Path, big: Path) -> dict:
    port = free_ports(["floor"])["floor"]
    with tempfile.TemporaryDirectory(prefix="picasso-floor-") as directory:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_upload", "--port", str(port),
             "--chunk", str(_CHUNK), directory], stdin=subprocess.DEVNULL,
        )
        try:
            _wait_ready(f"http://127.0.0.1:{port}/", server)
            target = Target(f"http://127.0.0.1:{port}/upload", server.pid, {})
            return asyncio.run(measure_runs(target, small, big))
        finally:
            server.terminate()
            server.wait(10)


def _wait_ready(url: str, server: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the floor server exited while starting")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the floor server did not answer at {url}")


# -- the benchmark --------------------------------------------------------------------------

def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="picasso-upload-") as directory:
        big, small = Path(directory) / "harbour.jpg", Path(directory) / "small.jpg"
        size = big_jpeg(big)
        small.write_bytes(jpeg_with_gps())
        with Image.open(big) as check:
            dimensions = check.size
        ours = {store: picasso(small, big, store) for store in STORES}
        base = floor(small, big)
    figures = {
        "machine": machine(),
        "upload": f"{dimensions[0]}x{dimensions[1]} JPEG, {size / _MB:.1f} MB",
        "floor": _rounded(base),
        "target_growth_mb": TARGET_MB,
    }
    print(f"machine: {figures['machine']}")
    print(f"upload: {figures['upload']}, streamed as multipart/form-data, "
          f"{_CHUNK // 1024} KiB reads, worst of {RUNS} uploads")
    for name, run in (*((f"picasso edge, {STORES[s]}", ours[s]) for s in STORES),
                      ("bare aiohttp (floor)", base)):
        print(f"  {name}: idle {run['idle_mb']:.1f} MB, peak {run['peak_mb']:.1f} MB, "
              f"peak - idle {run['growth_mb']:.1f} MB (runs: {run['growth_runs_mb']}), "
              f"{run['seconds']:.2f} s, {run['samples']} samples")
    for store, run in ours.items():
        ratio = run["growth_mb"] / base["growth_mb"] if base["growth_mb"] > 0 else float("inf")
        figures[f"picasso_{store}"] = {**_rounded(run), "ratio": round(ratio, 2)}
        print(f"upload memory ({STORES[store]}): picasso {run['growth_mb']:.1f} MB, "
              f"floor {base['growth_mb']:.1f} MB, ratio {ratio:.2f}x "
              f"(target: picasso < {TARGET_MB:.0f} MB)")
    return figures


def _rounded(run: dict) -> dict:
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in run.items()}


if __name__ == "__main__":
    main()
