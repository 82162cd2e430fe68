"""Logging, configured once: the console says little, each run folder keeps its own ``hilcal.log``.

Drivers log through ``logging`` (a retried exchange, an unexpected reply they tolerated). Left
unconfigured, Python prints their warnings on stderr in the middle of the live progress display. Here:

* ``configure_logging(verbosity)`` (the CLI's ``--verbose``/``-v``, once per process) installs one handler
  on the console's stderr through Rich, so a message is printed above the live display, never into it:
  warnings by default, info with ``-v``, debug with ``-vv``;
* ``open_run_log(run_dir)`` (every run and resume) adds ``run_dir/hilcal.log`` for the run's duration:
  info and up from hilcal's packages (debug with ``-vv``), so a driver warning is found with the run it
  happened in. While a run log is open and the console is not verbose, warnings go to the file only.

Python's own warnings (``warnings.warn`` from pyvisa, numpy, scipy) are routed into logging too
(``logging.captureWarnings``), so they follow the same path instead of going straight to stderr.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

LOG_NAME = "hilcal.log"
#: The loggers hilcal's own code writes to (module loggers are named after their package).
PACKAGES = ("drivers", "controller", "sequences", "simulators", "geometry", "dosimetry", "records",
            "validation", "hilcal")
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: The CLI's global ``--verbose``/``-v`` (repeatable).
VerboseOption = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        help="log info on the console (-vv: debug, also in each run's hilcal.log)",
    ),
]

_verbosity = 0
_console_handler: RichHandler | None = None


def console_level(verbosity: int) -> int:
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


def configure_logging(verbosity: int = 0, console: Console | None = None) -> None:
    """The console handler (stderr, through Rich); called again, it replaces the one it installed."""
    global _verbosity, _console_handler
    _verbosity = verbosity
    root = logging.getLogger()
    if _console_handler is not None:
        root.removeHandler(_console_handler)
    handler = RichHandler(
        console=console or Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False
    )
    handler.setLevel(console_level(verbosity))
    handler.addFilter(_QuietDuringRuns())
    root.addHandler(handler)
    _console_handler = handler
    logging.captureWarnings(True)  # warnings.warn goes through the handlers above (logger "py.warnings")
    if verbosity > 0:  # info (or debug) from hilcal's packages reaches the console
        for name in PACKAGES:
            logging.getLogger(name).setLevel(console_level(verbosity))


def reset_logging() -> None:
    """Undo ``configure_logging`` (tests; a program that embeds hilcal and configures logging itself)."""
    global _verbosity, _console_handler
    if _console_handler is not None:
        logging.getLogger().removeHandler(_console_handler)
        logging.captureWarnings(False)
    _console_handler, _verbosity = None, 0
    for name in PACKAGES:
        logging.getLogger(name).setLevel(logging.NOTSET)


class _QuietDuringRuns(logging.Filter):
    """Without ``-v``, nothing is printed while a run's log file is open: it goes to that file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _verbosity > 0 or not _open_logs


class RunLog:
    """``run_dir/hilcal.log`` for the duration of one run; ``close`` detaches it (idempotent)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOG_NAME
        self._handler: logging.FileHandler | None = logging.FileHandler(self.path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(_FORMAT))
        self._handler.setLevel(logging.DEBUG if _verbosity >= 2 else logging.INFO)
        self._lowered: list[tuple[logging.Logger, int]] = []
        for name in PACKAGES:
            logger = logging.getLogger(name)
            wanted = self._handler.level
            if logger.getEffectiveLevel() > wanted:  # let info reach the file, as long as the run lasts
                self._lowered.append((logger, logger.level))
                logger.setLevel(wanted)
        logging.getLogger().addHandler(self._handler)
        _open_logs.append(self)

    def close(self) -> None:
        if self._handler is None:
            return
        logging.getLogger().removeHandler(self._handler)
        self._handler.close()
        self._handler = None
        for logger, level in reversed(self._lowered):
            logger.setLevel(level)
        if self in _open_logs:
            _open_logs.remove(self)


_open_logs: list[RunLog] = []


def open_run_log(run_dir: Path) -> RunLog:
    return RunLog(run_dir)


def warnings_logged(run_dir: Path) -> int:
    """How many warnings (and worse) a run's log file holds: the console says so after the run."""
    path = run_dir / LOG_NAME
    if not path.is_file():
        return 0
    levels = (" WARNING ", " ERROR   ", " CRITICAL ")
    with path.open(encoding="utf-8", errors="replace") as handle:
        return sum(1 for line in handle if any(level in line[:40] for level in levels))


def report_run_log(run_dir: Path, console: Console) -> None:
    """After a run: say how many warnings its log holds, and where (they were not printed during it)."""
    count = warnings_logged(run_dir)
    if count and _verbosity <= 0:
        console.print(
            f"[yellow]{count} warning{'s' if count > 1 else ''} logged during the run:[/yellow] "
            f"{run_dir / LOG_NAME}",
            highlight=False,
        )
