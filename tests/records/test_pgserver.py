"""The real PostgreSQL server the tests start: CI provides its binaries, and it never runs as root."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

CI = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_ci_installs_the_postgresql_server_when_missing():
    """`.ci/run` must provide what the tests start: initdb and pg_ctl come with Debian's `postgresql`."""
    script = CI.read_text()
    assert re.search(r"apt-get install[^\n]*\bpostgresql\b", script), ".ci/run never installs postgresql"
    assert "initdb" in script  # installed only when the binaries are missing


def test_the_server_does_not_run_as_root(postgres_server):
    """PostgreSQL refuses root; as root the tests hand it to an unprivileged user."""
    pid_line = (postgres_server.data / "postmaster.pid").read_text().splitlines()[0]
    owner = subprocess.run(
        ["ps", "-o", "user=", "-p", pid_line], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert owner and owner != "root"
    if os.geteuid() != 0:
        assert owner == subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
