"""One server of the embedded stack in the foreground: the command of the stack image's
containers (deploy/image/Containerfile.stack) in the local overlay.

``python -m deploy.local.serve <server> --port N --bind 0.0.0.0 --advertise <pod name>``

It prepares the server with its recipe (:mod:`deploy.local.servers`, the same commands and
flags as ``make run``), starts it, waits until the recipe's readiness check answers (for as
long as the server lives, saying so every ``ready_timeout_s``), does the
recipe's set-up (the bucket, the Stripe webhook), prints ``serve: <server> ready`` and then
lives as long as the server does: SIGTERM stops the server, and the server's exit status is
this process's. MariaDB also gets the ledger's account for the other pods (``LEDGER_USER``,
with the password ``LEDGER_PASSWORD``): its root logs in from inside its own pod only.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from deploy.local.servers import RECIPES
from deploy.local.servers.base import HOST, Site, StackError

READY_LINE = "ready on"  # in ``serve: <server> ready on <bind>:<port>``


def grant_ledger_user(port: int) -> None:
    """The account the ledger's processes use from other pods: every shard database it
    creates (``picasso_shard*``), nothing else."""
    import pymysql

    user, password = os.environ.get("LEDGER_USER", ""), os.environ.get("LEDGER_PASSWORD", "")
    if not user or not password:
        raise StackError("mariadb: LEDGER_USER and LEDGER_PASSWORD must be set")
    conn = pymysql.connect(host=HOST, port=port, user="root", password="", connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("GRANT ALL PRIVILEGES ON `picasso\\_shard%%`.* TO %s@'%%'", (user,))
    finally:
        conn.close()


SET_UP = {"mariadb": grant_ledger_user}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.serve")
    parser.add_argument("server", choices=sorted(RECIPES))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default=HOST, help="the address to listen on")
    parser.add_argument("--advertise", default=HOST,
                        help="the name clients are told to come back to (Kafka)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("PICASSO_DATA_DIR", "/tmp/picasso")))
    parser.add_argument("--webhook-url", help="where localstripe sends its events")
    args = parser.parse_args(argv)

    recipe = RECIPES[args.server]
    workdir = args.data_dir / args.server
    workdir.mkdir(parents=True, exist_ok=True)
    site = Site(args.server, args.port, workdir, args.data_dir, sys.stdout.buffer,
                lambda line: print(line, flush=True),
                stripe_webhook_url=lambda: args.webhook_url,
                bind=args.bind, advertise=args.advertise)
    launch = recipe.prepare(site)
    server = subprocess.Popen(launch.argv, cwd=launch.cwd, env={**os.environ, **launch.env})

    def stop(signum: int, frame: FrameType | None) -> None:
        server.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # A server that is alive is waited for, however slow its start: on a busy machine the
    # emulator took minutes, and killing it at a deadline only started the same slow start
    # again, over and over (its container never became ready). Its clients wait for it
    # through their own readiness checks; a server that dies is this container's end.
    began = time.monotonic()
    next_word = began + recipe.ready_timeout_s
    while True:
        if server.poll() is not None:
            print(f"serve: {args.server} exited with {server.returncode} before it answered",
                  flush=True)
            return server.returncode or 1
        try:
            launch.probe()
            break
        except Exception as exc:  # the readiness check raises anything until it answers
            if time.monotonic() > next_word:
                print(f"serve: {args.server} has not answered in "
                      f"{time.monotonic() - began:.0f}s ({exc!r}); still starting, waiting on",
                      flush=True)
                next_word += recipe.ready_timeout_s
            time.sleep(0.5)
    steps = [launch.after_ready] if launch.after_ready else []
    if args.server in SET_UP:
        steps.append(lambda: SET_UP[args.server](args.port))
    for step in steps:
        try:
            step()
        except Exception as exc:
            print(f"serve: {args.server}: set-up failed: {exc!r}", flush=True)
            server.kill()
            return 1
    print(f"serve: {args.server} {READY_LINE} {args.bind}:{args.port}", flush=True)
    code = server.wait()
    if launch.cleanup is not None:
        launch.cleanup()
    return code


if __name__ == "__main__":
    sys.exit(main())
