"""What the browser tests share: a served subprocess, Debian's Chromium, an offline page.

``served(cmd, log, ready=...)`` starts a server with its output in ``log``, waits for the
``ready`` line and stops it at the end (SIGTERM, then kill). ``offline_page(browser, ...)``
opens a page whose requests stay on this machine (the others are recorded and aborted) and
whose console errors and page errors are collected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import require_service

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL = ("127.0.0.1", "localhost")


def chromium() -> str:
    """Debian's chromium (``$JARVIS_CHROMIUM`` or /usr/bin/chromium), never a downloaded one."""
    path = os.environ.get("JARVIS_CHROMIUM") or "/usr/bin/chromium"
    if not (Path(path).exists() or shutil.which(path)):
        require_service("Chromium", f"no browser at {path!r} (set JARVIS_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_service("Playwright", "pip install playwright (the browser is Debian's)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout: float, what: str, interval: float = 0.2):
    """The first truthy value of ``predicate()``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)


def stop(proc, sig=signal.SIGTERM):
    """Send ``sig`` to a running process, kill it if it is not gone in 20 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def served(cmd, log: Path, ready: str | None = None, timeout: float = 60,
           what: str = "the server", **popen):
    """``cmd`` running with its output in ``log``; once ``ready`` is in the log (if given),
    yields the process; always stopped at the end."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        if ready is not None:
            wait(lambda: ready in log.read_text() or proc.poll() is not None, timeout, what)
            assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        stop(proc)


def offline_page(browser, external: list, problems: list, viewport: dict,
                 timeout: float = 30_000, hosts=LOCAL):
    """A new page (own context) that reaches only ``hosts`` (and data:/blob: URLs): any
    other request is appended to ``external`` and aborted; console errors and page errors
    are appended to ``problems``."""
    context = browser.new_context(viewport=viewport)

    def route(r):
        url = r.request.url
        host = url.split("/")[2].split(":")[0] if "://" in url else ""
        if url.startswith(("data:", "blob:")) or host in hosts:
            r.continue_()
        else:
            external.append(url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(timeout)
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return page
