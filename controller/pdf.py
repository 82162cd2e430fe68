"""HTML reports to PDF with headless Chromium: the engine that renders them on screen and in the tests.

Chromium is an optional system program: when it is missing (or fails) the PDF is skipped with a reason the
console prints, and the HTML report stands on its own. See docs/reports.md for why not WeasyPrint.

One page prints with ``--print-to-pdf``. Several (a session's run reports and its own) print in one browser,
driven over ``--remote-debugging-pipe`` with the DevTools protocol steps and ``Page.printToPDF`` settings
``--print-to-pdf`` itself uses (Chromium's headless command handler): a browser start-up is most of a
page's time, so a session's 19 pages print several times faster, to the same PDFs. ``BackgroundPrinter``
does that on a worker thread, so a session prints each run's report while its next step runs.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pydantic import BaseModel

#: Seconds one page may take to print before it is given up (a run report prints in about 2 s).
TIMEOUT_S = 90.0


class PdfOutcome(BaseModel):
    html: Path
    pdf: Path | None = None
    skipped: str | None = None


def find_chromium() -> str | None:
    """``$HILCAL_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on PATH."""
    chosen = os.environ.get("HILCAL_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(browser: str, profile: Path) -> list[str]:
    """The headless flags every caller (the PDF printer and the tests) starts Chromium with."""
    return [
        browser,
        "--headless",
        "--no-sandbox",  # CI and containers run as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        f"--user-data-dir={profile}",  # a private profile: concurrent prints do not share a lock
    ]


def print_pdf(html: Path, pdf: Path | None = None) -> PdfOutcome:
    """Print ``html`` to ``pdf`` (default: beside it, .pdf); never raises for a missing or failing browser."""
    target = pdf or html.with_suffix(".pdf")
    browser = find_chromium()
    if browser is None:
        return PdfOutcome(html=html, skipped="Chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="hilcal-chromium-") as profile:
        command = [
            *chromium_command(browser, Path(profile)),
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return PdfOutcome(html=html, skipped=f"Chromium did not print {html.name}: {err}")
    if done.returncode != 0 or not target.is_file() or target.read_bytes()[:5] != b"%PDF-":
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        return PdfOutcome(html=html, skipped=f"Chromium exit {done.returncode} on {html.name}: {tail[0]}")
    return PdfOutcome(html=html, pdf=target)


#: What ``--print-to-pdf --no-pdf-header-footer`` asks ``Page.printToPDF`` for (Chromium's headless
#: command handler, components/headless/command_handler): tagged, backgrounds, the CSS page size (A4 here).
PRINT_TO_PDF_PARAMS: dict[str, Any] = {
    "displayHeaderFooter": False,
    "generateTaggedPDF": True,
    "printBackground": True,
    "preferCSSPageSize": True,
}


class BrowserError(Exception):
    """The browser itself failed (did not start, hung up, timed out): no further page can print in it."""


class PdfPrinter:
    """One headless Chromium printing page after page over the DevTools pipe (fd 3 in, fd 4 out).

    Each page gets its own tab, loaded to its ``load`` event and printed with ``PRINT_TO_PDF_PARAMS``,
    then closed: the steps of ``--print-to-pdf``. Use ``open_printer()``.
    """

    def __init__(self, browser: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # Above fd 4, so placing one end on 3 or 4 never overwrites the other before it is placed.
        to_browser_r, from_browser_w = (_above_4(fd) for fd in (to_browser_r, from_browser_w))
        command = [*chromium_command(browser, profile), "--remote-debugging-pipe", "about:blank"]
        placed = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, to_browser_r, 3),  # the DevTools pipe: commands in on 3, replies out on 4
            (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
        ]
        try:
            # a session of its own: the operator's Ctrl-C (a pause) is not the browser's to act on
            self._pid = os.posix_spawnp(browser, command, os.environ, file_actions=placed, setsid=True)
        except OSError as err:
            for fd in (self._to_browser, self._from_browser):
                os.close(fd)
            raise BrowserError(f"Chromium did not start: {err}") from err
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _send(self, method: str, params: dict[str, Any], session: str | None, deadline: float) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode("utf-8") + b"\0")
        except OSError as err:
            raise BrowserError(f"Chromium hung up ({err})") from err
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {TIMEOUT_S:g} s")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def _wait_for_load(self, session: str, navigated: dict[str, Any], deadline: float) -> None:
        """Until the navigated document's ``load`` lifecycle event (its loader's: about:blank's own
        lifecycle events, which arrive once they are enabled, are not the page's)."""

        def loaded(event: dict[str, Any]) -> bool:
            params = event.get("params", {})
            return (
                event.get("sessionId") == session
                and event.get("method") == "Page.lifecycleEvent"
                and params.get("name") == "load"
                and params.get("frameId") == navigated["frameId"]
                and params.get("loaderId") == navigated.get("loaderId", params.get("loaderId"))
            )

        while True:
            found = any(loaded(event) for event in self._events)
            self._events = [event for event in self._events if event.get("sessionId") != session]
            if found:
                return
            event = self._receive(deadline)
            if "method" in event:
                self._events.append(event)

    def print(self, html: Path, pdf: Path | None = None) -> PdfOutcome:
        """Print ``html`` to ``pdf`` (default: beside it, .pdf); a page the browser refuses is skipped with
        its reason. Raises ``BrowserError`` when the browser itself is gone."""
        target = pdf or html.with_suffix(".pdf")
        deadline = time.monotonic() + TIMEOUT_S
        tab = self._send("Target.createTarget", {"url": "about:blank"}, None, deadline)["targetId"]
        try:
            session = self._send("Target.attachToTarget", {"targetId": tab, "flatten": True}, None, deadline)[
                "sessionId"
            ]
            self._send("Page.enable", {}, session, deadline)
            self._send("Page.setLifecycleEventsEnabled", {"enabled": True}, session, deadline)
            navigated = self._send("Page.navigate", {"url": html.resolve().as_uri()}, session, deadline)
            if navigated.get("errorText"):
                return PdfOutcome(
                    html=html, skipped=f"Chromium could not load {html.name}: {navigated['errorText']}"
                )
            self._wait_for_load(session, navigated, deadline)
            data = base64.b64decode(
                self._send("Page.printToPDF", PRINT_TO_PDF_PARAMS, session, deadline)["data"]
            )
        except RuntimeError as err:
            return PdfOutcome(html=html, skipped=f"Chromium did not print {html.name}: {err}")
        finally:
            with suppress(RuntimeError, BrowserError):  # the next page finds out if the browser is there
                self._send("Target.closeTarget", {"targetId": tab}, None, deadline)
        if data[:5] != b"%PDF-":
            return PdfOutcome(html=html, skipped=f"Chromium printed no PDF for {html.name}")
        target.write_bytes(data)
        return PdfOutcome(html=html, pdf=target)

    def close(self) -> None:
        with suppress(BrowserError, RuntimeError):  # it may hang up before it answers
            self._send("Browser.close", {}, None, time.monotonic() + 5.0)
        os.close(self._to_browser)  # and a browser still writing finds its pipe gone, not full
        os.close(self._from_browser)
        if not self._reaped(time.monotonic() + 10.0):
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)

    def _reaped(self, deadline: float) -> bool:
        """Whether the browser exited (and was reaped) before ``deadline``."""
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self._pid, os.WNOHANG)
            if pid:
                return True
            time.sleep(0.02)
        return False


def _above_4(fd: int) -> int:
    if fd > 4:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return moved


@contextmanager
def open_printer() -> Iterator[PdfPrinter | None]:
    """A ``PdfPrinter`` in a private profile, closed afterwards; None when Chromium is not installed or
    does not start (callers then print page by page, which says why)."""
    browser = find_chromium()
    if browser is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="hilcal-chromium-") as profile:
        try:
            printer = PdfPrinter(browser, Path(profile))
        except BrowserError:
            yield None
            return
        try:
            yield printer
        finally:
            printer.close()


class BackgroundPrinter:
    """Pages printed one after another in one browser on a worker thread, while the caller goes on: a
    session prints each run's report while its next step runs. ``submit`` a page (again: the same
    future), ``Future.result()`` for its outcome, ``close()`` at the end. The browser opens with the
    first page; if it fails, that page and the rest print with ``print_pdf``, one browser each."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hilcal-pdf")
        self._futures: dict[Path, Future[PdfOutcome]] = {}
        self._profile: str | None = None
        self._printer: PdfPrinter | None = None
        self._tried = False

    def submit(self, page: Path, after: Future[Any] | None = None) -> Future[PdfOutcome]:
        """Print ``page`` once ``after`` (the future writing it, if any) is done."""
        future = self._futures.get(page)
        if future is None:
            future = self._futures[page] = self._pool.submit(self._print, page, after)
        return future

    def _print(self, page: Path, after: Future[Any] | None = None) -> PdfOutcome:
        if after is not None:
            try:
                after.result()
            except Exception as err:
                return PdfOutcome(html=page, skipped=f"{page.name} was not written: {err}")
        if not self._tried:
            self._tried = True
            browser = find_chromium()
            if browser is not None:
                self._profile = tempfile.mkdtemp(prefix="hilcal-chromium-")
                with suppress(BrowserError):
                    self._printer = PdfPrinter(browser, Path(self._profile))
        if self._printer is not None:
            try:
                return self._printer.print(page)
            except BrowserError:
                self._shut()
        return print_pdf(page)

    def _shut(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            printer.close()
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def close(self) -> None:
        """Pages not yet begun are dropped; the one printing finishes; the browser is closed."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._shut()


def print_pdfs(pages: list[Path], workers: int = 2, printer: PdfPrinter | None = None) -> list[PdfOutcome]:
    """Print several reports in one browser (``printer``, or one opened here); when that browser fails,
    the pages left print one browser each, two at a time."""
    if not pages:
        return []
    if printer is None:
        with open_printer() as opened:
            return print_pdfs(pages, workers, opened) if opened is not None else _one_by_one(pages, workers)
    done: list[PdfOutcome] = []
    for page in pages:
        try:
            done.append(printer.print(page))
        except BrowserError:
            break
    return done + _one_by_one(pages[len(done) :], workers)


def _one_by_one(pages: list[Path], workers: int) -> list[PdfOutcome]:
    """Each page in a browser of its own (``print_pdf``), two at a time."""
    if not pages:
        return []
    if find_chromium() is None:
        return [print_pdf(page) for page in pages[:1]] + [
            PdfOutcome(html=page, skipped="Chromium is not installed") for page in pages[1:]
        ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(print_pdf, pages))
