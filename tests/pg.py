"""A throwaway PostgreSQL server for the tests and the store benchmark.

``PgServer().start()`` runs Debian's ``initdb`` and ``pg_ctl`` (``/usr/lib/postgresql/*/bin``;
``make test`` installs the ``postgresql`` package when there is none) on a fresh data
directory under the system temp folder, listening on 127.0.0.1 on a free port only (no Unix
socket), with password authentication for its superuser ``otonom``. As root the server runs
as the unprivileged ``postgres`` user (``runuser``). Durability is off (fsync, full page
writes): the data is thrown away. ``stop()`` stops it and deletes the directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

USER = "otonom"
PASSWORD = "otonom-test-pw"
SETTINGS = {"listen_addresses": "'127.0.0.1'", "unix_socket_directories": "''",
            "fsync": "off", "full_page_writes": "off", "synchronous_commit": "off",
            "max_connections": "60", "shared_buffers": "32MB"}


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.root: Path | None = None
        self.port = 0

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # the server refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-2000:]}")

    def start(self) -> PgServer:
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb "
                               "(apt-get install -y postgresql)")
        root = os.geteuid() == 0
        # As root, under /tmp: the postgres user may not reach a TMPDIR inside /root.
        self.root = Path(tempfile.mkdtemp(prefix="otonom-pg-", dir="/tmp" if root else None))
        data, pwfile = self.root / "data", self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if root:
            shutil.chown(self.root, "postgres")
            shutil.chown(pwfile, "postgres")
        self._run("initdb", "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                  "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C")
        self.port = free_port()
        options = " ".join(f"-c {k}={v}" for k, v in {**SETTINGS, "port": self.port}.items())
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(data), "-l",
                  str(self.root / "log"), "-o", options)
        return self

    def stop(self) -> None:
        if self.root is None:
            return
        try:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.root / "data"))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
