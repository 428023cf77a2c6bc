"""Run the edge: ``python -m web`` (address from ``EDGE_HOST`` / ``EDGE_PORT``)."""

from __future__ import annotations

import resource

from aiohttp import web

from picasso.logging import configure
from picasso.settings import Settings, SettingsError
from web.app import create_app


def open_files_for(streams: int) -> None:
    """Raise the soft limit of open files (up to the hard one) so that ``streams`` live
    streams, each a socket, fit besides the edge's other files; the usual soft limit of
    1,024 would refuse connections long before LIVE_MAX_CONNECTIONS."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = streams + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def main() -> None:
    """Check the settings (refusing to start on missing or unsafe ones), then serve."""
    try:
        settings = Settings.from_env(role="edge")
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None  # the one message, on stderr; exit status 1
    configure(settings, "edge")
    open_files_for(settings.live_max_connections)
    # reuse_port lets several edge processes share one port (X axis).
    web.run_app(create_app(settings), host=settings.edge_host, port=settings.edge_port,
                reuse_port=True, print=None, access_log=None)


if __name__ == "__main__":
    main()
