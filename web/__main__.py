"""Run the edge: ``python -m web`` (address from ``EDGE_HOST`` / ``EDGE_PORT``)."""

from __future__ import annotations

from aiohttp import web

from picasso.logging import configure
from picasso.settings import Settings, SettingsError
from web.app import create_app


def main() -> None:
    """Check the settings (refusing to start on missing or unsafe ones), then serve."""
    try:
        settings = Settings.from_env(role="edge")
    except SettingsError as exc:
        raise SystemExit(str(exc)) from None  # the one message, on stderr; exit status 1
    configure(settings)
    # reuse_port lets several edge processes share one port (X axis).
    web.run_app(create_app(settings), host=settings.edge_host, port=settings.edge_port,
                reuse_port=True, print=None, access_log=None)


if __name__ == "__main__":
    main()
