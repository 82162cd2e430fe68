"""A throwaway PostgreSQL server for tests and benchmarks: a real server, never a mock.

It runs the machine's PostgreSQL binaries (``initdb``, ``pg_ctl``) on a free loopback port in a fresh
temporary directory. PostgreSQL refuses to run as root and CI runs as root, so as root the server runs as
the unprivileged ``nobody`` user (the data directory is handed to it). Trust authentication on loopback
only: this is a test server, never a centre's.
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
from typing import Any

USER = "hilcal"
SERVER_USER = "nobody"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: $PG_BINDIR, PATH, or Debian's /usr/lib/postgresql/<v>/bin."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) found; install `postgresql`")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """``with PostgresServer() as pg: url = pg.create_database("x")``."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="hilcal-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0
        self._started = False

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {"capture_output": True, "text": True, "check": False, "cwd": self.root}
        if self._as_root:
            kwargs["user"] = SERVER_USER
            kwargs["env"] = {**os.environ, "HOME": str(self.root)}
        done = subprocess.run(args, **kwargs)
        if done.returncode != 0:
            said = done.stderr or done.stdout
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {said}")
        return done

    def start(self) -> PostgresServer:
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chmod(self.root, 0o755)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        log = str(self.root / "log")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        self._started = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        admin = f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')  # name is ours, never user input
        return self.url(name)

    def stop(self) -> None:
        if self._started:
            self._started = False
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
            finally:
                shutil.rmtree(self.root, ignore_errors=True)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
