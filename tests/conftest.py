"""Shared fixtures: a virtual clock double for controller tests that do not need the simulated world."""

from __future__ import annotations

import pytest


class StepClock:
    """A clock whose sleep advances time at once (the controller-side view of a virtual clock)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


@pytest.fixture
def step_clock() -> StepClock:
    return StepClock()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL server for the whole test session (started as `nobody` when run as root)."""
    from records.pgserver import PostgresServer

    with PostgresServer() as server:
        yield server


_databases = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh, empty QA record on each backend: an SQLite file, or a new database on the real server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'qa-record.sqlite'}"
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"qa_{next(_databases)}")


@pytest.fixture(autouse=True)
def _qa_record_per_test(tmp_path_factory, monkeypatch):
    """Every test (and every process it starts) writes its QA record to a private SQLite file.

    Without it, a CLI run would keep its record beside the run folders a test inspects, or in the working
    tree. A test about the default location deletes HILCAL_DB itself.
    """
    folder = tmp_path_factory.mktemp("qa-record")
    monkeypatch.setenv("HILCAL_DB", f"sqlite:///{folder / 'qa-record.sqlite'}")
