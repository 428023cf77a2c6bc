"""MariaDB: Debian's ``mariadbd``, initialised once in DATA_DIR/mariadb/data.

Root logs in with no password over TCP. Ready when ``SELECT 1`` as root answers (PyMySQL);
the ledger creates its shard databases itself.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy.local.servers.base import HOST, Launch, Recipe, Site, system_program

# sun_path of a Unix socket holds 108 bytes; MariaDB refuses a longer --socket.
_MAX_SOCKET_PATH = 100


def server_url(port: int, host: str = HOST) -> str:
    """The server as root sees it, without a database: append ``/<database>`` for a DSN."""
    return f"mysql://root@{host}:{port}"


def _select_1(host: str, port: int) -> None:
    # `mariadb-admin ping` answers even when logins fail, so log in and query.
    import pymysql

    conn = pymysql.connect(host=host, port=port, user="root", password="", connect_timeout=2)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            row = cur.fetchone()
        if row != (1,):
            raise RuntimeError(f"SELECT 1 returned {row!r}")
    finally:
        conn.close()


def _initialise(site: Site, datadir: Path, tmpdir: Path, user: str) -> None:
    marker = site.workdir / "initialized"
    if marker.exists():
        return
    # No marker means none or a half-finished initialisation: start afresh.
    shutil.rmtree(datadir, ignore_errors=True)
    subprocess.run(
        [
            system_program("mariadb-install-db"),
            "--no-defaults",  # must come first; ignore /etc/mysql
            f"--user={user}",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            # Root logs in with no password (over TCP too), not only as the OS root.
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        cwd=site.workdir,
        stdin=subprocess.DEVNULL,
        stdout=site.log_file,
        stderr=subprocess.STDOUT,
        check=True,
        timeout=120,
    )
    marker.write_text("mariadb-install-db done\n")


def prepare(site: Site) -> Launch:
    workdir = site.workdir
    datadir = workdir / "data"
    # Its own temporary directory: servers of two test runs sharing /tmp clash there.
    tmpdir = workdir / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    _initialise(site, datadir, tmpdir, user)
    socket_path = workdir / "mariadb.sock"
    cleanup = None
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        short = Path(tempfile.mkdtemp(prefix="picasso-mariadb-"))
        socket_path = short / "mariadb.sock"
        cleanup = lambda: shutil.rmtree(short, ignore_errors=True)  # noqa: E731
    return Launch(
        argv=[
            system_program("mariadbd"),
            "--no-defaults",  # must come first; Debian's /etc/mysql would bind elsewhere
            f"--user={user}",
            f"--datadir={datadir}",
            f"--tmpdir={tmpdir}",
            f"--socket={socket_path}",
            f"--pid-file={workdir / 'mariadb.pid'}",
            f"--bind-address={site.bind}",
            f"--port={site.port}",
            "--skip-name-resolve",
            # The compiled-in default is latin1; match Debian's packaged config and MySQL 8.
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
        ],
        cwd=workdir,
        probe=lambda: _select_1(site.host, site.port),
        cleanup=cleanup,
    )


RECIPE = Recipe("mariadb", ready_timeout_s=60.0, prepare=prepare)
