"""Notebook 04 served as it is: ``panel serve notebooks/04_jarvis_bot.ipynb``, in headless Chromium.

The venv's ``panel serve`` runs the notebook top to bottom in the server (replay feed, demo
files in a temporary folder); the page loads, Start moves the tick count, Stop freezes it, no
console error, and no request leaves 127.0.0.1. The cells that only make sense in JupyterLab
(they end with ``%autoawait asyncio``) are skipped by Panel, and nothing else fails.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat

from tests.browser import CHROMIUM_ARGS, chromium, free_port, offline_page, served, wait
from tests.test_browser import _ticks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = Path("notebooks") / "04_jarvis_bot.ipynb"
SKIPPED = "%autoawait asyncio"


def _jupyter_only_cells() -> int:
    nb = nbformat.read(str(ROOT / NOTEBOOK), as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code"
               and c.source.rstrip().splitlines()[-1].strip() == SKIPPED)


def test_notebook_04_served_by_panel(tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = tmp_path / "panel.log"
    panel = Path(sys.executable).parent / "panel"
    cmd = [str(panel), "serve", str(NOTEBOOK), "--port", str(port), "--address", "127.0.0.1",
           "--allow-websocket-origin", f"127.0.0.1:{port}"]
    env = {**os.environ, "JARVIS_FEED": "replay", "JARVIS_DEMO_DIR": str(tmp_path / "data")}
    external, problems = [], []
    with (served(cmd, log, ready="Bokeh app running at", timeout=90, what="panel serve",
                 cwd=ROOT, env=env),
          sync_playwright() as pw):
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            # only 127.0.0.1; the first session runs the whole notebook
            page = offline_page(browser, external, problems, {"width": 1400, "height": 1300},
                                timeout=90_000, hosts=("127.0.0.1",))
            page.goto(f"http://127.0.0.1:{port}/{NOTEBOOK.stem}")
            status = page.locator(".jarvis-status")
            status.wait_for()
            assert "nb04-replay" in status.inner_text()
            before = _ticks(status.inner_text())

            page.locator(".jarvis-start button").click()
            wait(lambda: _ticks(status.inner_text()) >= before + 20, 60, "ticks after Start")
            page.locator(".jarvis-stop button").click()
            wait(lambda: "stopped" in status.inner_text(), 30, "stopped status")
            page.wait_for_timeout(1000)  # a last update may still be on its way
            stopped = _ticks(status.inner_text())
            page.wait_for_timeout(2000)
            assert _ticks(status.inner_text()) == stopped > before  # frozen
        finally:
            browser.close()
    text = log.read_text()
    assert external == [], external
    assert problems == [], problems
    assert "Traceback" not in text and "ERROR" not in text, text
    skipped = len(re.findall(r"did not contain valid Python syntax", text))
    assert skipped == _jupyter_only_cells() > 0, text  # exactly the JupyterLab-only cells
    assert (tmp_path / "data" / "jarvis_04.sqlite").exists()  # demo files where they belong


def test_notebook_04_compiles_as_panel_serves_it():
    """Fast guard: Panel's own notebook-to-script conversion compiles (a top-level ``await``
    in a cell without the ``%autoawait asyncio`` last line would be a SyntaxError when served)."""
    from panel.io.handlers import parse_notebook

    _, code, _ = parse_notebook(str(ROOT / NOTEBOOK))
    compile(code, str(NOTEBOOK), "exec")
    assert "build_app(bot).servable(" in code
