"""A real PostgreSQL server for the sink's tests and benchmark, in a temporary folder.

Debian's ``postgresql`` package (``.ci/run`` installs it where it is missing):
``initdb`` and ``pg_ctl`` on a free loopback port, password (SCRAM) authentication over
TCP. PostgreSQL refuses to run as root, so as root the server runs as the package's
``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "riskwarn"
#: The superuser's password: for this throwaway server only.
SUPERUSER_PASSWORD = "pg-test-secret-4e1f"
DATABASE = "riskwarn"


def server_binaries() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``, or None where PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    return Path(versions[-1]).parent if versions else None


def _version_key(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start with :meth:`start`, stop (and remove every file) with :meth:`stop`."""

    def __init__(self, *, durable: bool = False) -> None:
        # durable=False turns fsync off: the tests need a server, not a disk benchmark
        self.durable = durable
        self.port: int | None = None
        self.folder: Path | None = None

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        return ["runuser", "-u", "postgres", "--", *args]

    def start(self) -> PostgresServer:
        binaries = server_binaries()
        if binaries is None:
            raise FileNotFoundError(
                "PostgreSQL's initdb is not installed (Debian package 'postgresql')"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="riskwarn-pg-"))
        data, pwfile = self.folder / "data", self.folder / "pw"
        pwfile.write_text(SUPERUSER_PASSWORD + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.folder, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        run = {"check": True, "capture_output": True, "text": True}
        subprocess.run(
            self._as_owner(
                [
                    str(binaries / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            **run,
        )
        self.port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} "
            f"-c unix_socket_directories={self.folder}"
            + ("" if self.durable else " -c fsync=off -c synchronous_commit=off")
        )
        subprocess.run(
            self._as_owner(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self.folder / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            **run,
        )
        self.execute(f"CREATE DATABASE {DATABASE}", database="postgres")
        return self

    def url(self, user: str = SUPERUSER, database: str = DATABASE, port: int | None = None):
        """``postgresql://user@127.0.0.1:port/database``: no password in it."""
        return f"postgresql://{user}@127.0.0.1:{port or self.port}/{database}"

    def connect(self, *, user: str = SUPERUSER, password: str = SUPERUSER_PASSWORD, **kw):
        import psycopg

        kw.setdefault("dbname", DATABASE)
        return psycopg.connect(host="127.0.0.1", port=self.port, user=user, password=password, **kw)

    def execute(self, statement: str, params=None, *, database: str = DATABASE) -> list:
        """Run one statement as the superuser, autocommit; its rows (if any)."""
        with self.connect(dbname=database, autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def stop(self) -> None:
        if self.folder is None:
            return
        binaries = server_binaries()
        subprocess.run(
            self._as_owner(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(self.folder / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ]
            ),
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
