"""Run localstripe on one address, with its state kept in memory only.

``python -m deploy.local.localstripe_server --host 127.0.0.1 --port 8420``

localstripe's own CLI (``python -m localstripe``) binds ``::`` (every interface, IPv4 and
IPv6) and pickles its whole store to ``/tmp/localstripe.pickle`` after every write, and
reloads it at the next start. That file is shared by every localstripe on the machine, so two
stacks (say ``make run`` and the tests) would read each other's customers and payments. This
runner serves the same aiohttp ``app`` on the given address only, and turns the dump and the
reload into no-ops at run time (the installed package is left as it is): a restart starts
empty, like the other in-memory stand-ins.

SIGTERM or SIGINT stops it cleanly (exit code 0).
"""

from __future__ import annotations

import argparse
import logging
import sys


def _disable_disk_state() -> None:
    """Make localstripe's ``Store`` keep everything in memory.

    ``Store.dump_to_disk`` is called from ``Store.__setitem__``/``__delitem__`` and from the
    app's ``save_store_middleware`` after every POST, PUT and DELETE; all three look it up on
    the instance, so replacing it on the class covers them.
    """
    from localstripe import resources

    def no_dump(self: object) -> None:
        return None

    def no_load(self: object) -> None:
        return None

    resources.Store.dump_to_disk = no_dump  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = no_load  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.local.localstripe_server",
        description="Serve localstripe on one address, in memory only.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8420, help="TCP port (default 8420)")
    args = parser.parse_args(argv)

    _disable_disk_state()  # before the app serves (or even imports) anything

    from aiohttp import web
    from localstripe import __version__
    from localstripe.server import app

    # localstripe reports webhook deliveries on the "aiohttp.access" logger, next to the
    # access log: both go to stdout (the stack's log file).
    logging.basicConfig(
        level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(name)s %(message)s"
    )
    access_log = logging.getLogger("aiohttp.access")

    print(
        f"localstripe {__version__} on http://{args.host}:{args.port} (state in memory only)",
        flush=True,
    )
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=access_log,
        print=None,
        handle_signals=True,  # SIGINT and SIGTERM end run_app normally
        shutdown_timeout=2.0,  # do not wait long for idle keep-alive clients
    )
    print("localstripe stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
