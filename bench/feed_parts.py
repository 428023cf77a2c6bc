"""Where an anonymous feed answer's CPU goes: the edge with its parts taken out in turn.

The edge of ``make run`` (its app, stores and background tasks) answers
``GET /api/v1/pictures?limit=20`` four ways, each in a process of its own: as it is; with its
request middleware (trace, log context, metrics, cookies, problem answers) replaced by one
that only calls the handler; with the feed's handler replaced by one that returns the same
bytes as the bare floor of ``bench/feed.py`` does; and with both. The CPU time of the
process per answer under wrk, ``ROUNDS`` rounds in turn so that the machine's load falls
on all four alike, the median of the rounds; the difference between two ways is what that
part costs. Not a configuration anyone runs: a measure of the parts.

With ``BENCH_BEFORE_TREE=<a checkout>`` (e.g. ``git worktree add /tmp/before <commit>``) a
fifth way, that checkout's edge as it is, answers in the same rounds against the same
stack: a before and after measured in one run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import urllib.request

from bench.feed import CONNECTIONS, _seed
from bench.system import cpu_seconds, machine, running, wait_answering
from bench.wrk import wrk
from deploy.local.servers.base import free_ports
from picasso.domains import DOMAINS

ROUNDS = 3
SECONDS = 8
WAYS = ("as it is", "no middleware", "floor handler", "neither")

# The edge of ``python -m web`` with the parts named in argv[1] taken out.
_EDGE = """
import sys
import aiohttp.web as aweb
from aiohttp.web_routedef import RouteDef
import web.app
import web.routes.pictures
from picasso.logging import configure
from picasso.settings import Settings

way, body_path = sys.argv[1], sys.argv[2]
settings = Settings.from_env(role="edge")
configure(settings, "edge")
if way in ("no middleware", "neither"):
    @aweb.middleware
    async def passthrough(request, handler):
        return await handler(request)
    web.app.request_context = lambda *made_with: passthrough
if way in ("floor handler", "neither"):
    body = open(body_path, "rb").read()
    async def floor(request):
        return aweb.Response(body=body, content_type="application/json")
    items = web.routes.pictures.routes._items
    for n, route in enumerate(items):
        if isinstance(route, RouteDef) and route.path == "/api/v1/pictures":
            items[n] = RouteDef(route.method, route.path, floor, route.kwargs)
aweb.run_app(web.app.create_app(settings), host=settings.edge_host,
             port=settings.edge_port, print=None, access_log=None)
"""


def _command(way: str, body_path: str,
             before: str) -> tuple[list[str], str | None, dict[str, str]]:
    """The edge process of ``way``: its command, directory and what its environment adds."""
    if way == "before":  # the other checkout's own edge, its code first on the path
        return [sys.executable, "-m", "web"], before, {"PYTHONPATH": before}
    return [sys.executable, "-c", _EDGE, way, body_path], None, {}


def main() -> dict:
    print(f"feed answer by part — machine: {machine()}", flush=True)
    before = os.environ.get("BENCH_BEFORE_TREE", "").strip()
    ways = (*WAYS, "before") if before else WAYS
    per_answer: dict[str, list[float]] = {way: [] for way in ways}
    with running(workers=dict.fromkeys(DOMAINS, 0), edges=1) as system:
        settings = system.settings
        asyncio.run(_seed(settings.mongodb_url, settings.mongodb_database))
        path = system.stack.data_dir / "feed.json"
        path.write_bytes(urllib.request.urlopen(
            f"{system.edge_url}/api/v1/pictures?limit=20").read())
        for _ in range(ROUNDS):
            for way in ways:
                port = free_ports(["edge"])["edge"]
                command, cwd, env = _command(way, str(path), before)
                edge = subprocess.Popen(
                    command, cwd=cwd,
                    env={**system.edge_env, "EDGE_PORT": str(port), **env},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    url = f"http://127.0.0.1:{port}/api/v1/pictures?limit=20"
                    wait_answering(url)
                    wrk(url, connections=CONNECTIONS, seconds=2)  # warm-up
                    cpu_before = cpu_seconds(edge.pid)
                    result = wrk(url, connections=CONNECTIONS, seconds=SECONDS)
                    used = cpu_seconds(edge.pid) - cpu_before
                    per_answer[way].append(used / max(result.requests, 1) * 1e6)
                finally:
                    edge.terminate()
                    edge.wait()
    medians = {way: statistics.median(values) for way, values in per_answer.items()}
    for way in ways:
        print(f"{way:>14}: {medians[way]:5.1f} us CPU per answer (rounds: "
              + ", ".join(f"{v:.1f}" for v in per_answer[way]) + ")", flush=True)
    if before:
        print(f"{before}'s edge: {medians['before']:.1f} us against this tree's "
              f"{medians['as it is']:.1f} us", flush=True)
    print(f"the middleware costs {medians['as it is'] - medians['no middleware']:.1f} us, "
          f"the handler {medians['as it is'] - medians['floor handler']:.1f} us "
          f"(the rest of the edge: {medians['neither']:.1f} us)", flush=True)
    return {"us_per_answer": medians, "rounds": per_answer}


if __name__ == "__main__":
    main()
