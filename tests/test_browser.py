"""The served dashboard in headless Chromium: Start, watch it advance, Stop, watch it stop.

Runs `jarvis serve` (as ``python -m jarvis_helpers serve``) in a subprocess on a free local port
with a fast replay, drives it with Playwright and Debian's chromium (``$JARVIS_CHROMIUM``
or /usr/bin/chromium, never a downloaded browser). In CI a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.browser import CHROMIUM_ARGS, chromium, free_port, offline_page, served, wait

# Glyph rows per ColumnDataSource of every Bokeh document on the page.
CDS_LENGTHS = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents) {
    for (const m of doc._all_models.values()) {
      if (m.type !== 'ColumnDataSource') continue;
      const data = m.data;
      const keys = data instanceof Map ? [...data.keys()] : Object.keys(data);
      const col = data instanceof Map ? data.get(keys[0]) : data[keys[0]];
      out.push(col ? col.length : 0);
    }
  }
  return out;
}"""

# `deep(root, selector)`: the matching elements of the page, inside shadow roots too.
DEEP = """const deep = (root, sel) => { const out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...deep(el.shadowRoot, sel));
  return out; };
"""


def _deep(page, expression: str):
    """Evaluate ``expression`` in the page with ``deep`` defined."""
    return page.evaluate(f"() => {{ {DEEP} return {expression}; }}")


def _open_dashboard(browser, url, height, problems):
    """A new tab on the served dashboard, console errors collected; (page, status locator)."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.set_default_timeout(30_000)
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    status = page.locator(".jarvis-status")
    status.wait_for()
    return page, status


def _ticks(status: str) -> int:
    return int(status.split("ticks ")[1].split()[0])


@pytest.fixture
def served_app(tmp_path):
    """The app served in a subprocess; yields (url, log path, process); always killed at the end."""
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "jarvis_helpers", "serve", "--feed", "replay", "--port",
           str(port), "--interval", "0.01", "--db", f"sqlite:///{tmp_path / 'app.sqlite'}"]
    # `jarvis serve`, as python -m (no reliance on PATH)
    with served(cmd, log, ready="JARVIS dashboard", cwd=tmp_path) as proc:
        yield f"http://127.0.0.1:{port}/", log, proc


def test_start_advances_stop_stops_no_console_errors(served_app, tmp_path):
    from playwright.sync_api import sync_playwright

    url, log, proc = served_app
    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page, status = _open_dashboard(browser, url, 1300, problems)
            assert "idle" in status.inner_text() and _ticks(status.inner_text()) == 0

            page.locator(".jarvis-start button").click()
            wait(lambda: _ticks(status.inner_text()) >= 30, 30, "ticks after Start")
            first_ticks, first = _ticks(status.inner_text()), max(page.evaluate(CDS_LENGTHS))
            wait(lambda: max(page.evaluate(CDS_LENGTHS)) >= first + 30, 30, "the plots to advance")
            seen = wait(lambda: "running" in status.inner_text() and status.inner_text(), 10,
                         "running status")
            assert _ticks(seen) > first_ticks and first > 0  # the counter advances too
            rows = page.locator("table.dataframe tbody tr")
            assert rows.count() == 10  # the signals table keeps its backlog of 10

            # A second tab while it runs: the same bot (no second loop, nothing wiped).
            other, other_status = _open_dashboard(browser, url, 900, problems)
            wait(lambda: "running" in other_status.inner_text()
                  and _ticks(other_status.inner_text()) >= _ticks(seen), 30, "the shared bot")
            assert max(other.evaluate(CDS_LENGTHS)) >= _ticks(seen)  # its history, drawn

            other.locator(".jarvis-stop button").click()  # Stop in one tab stops it for all
            for st in (other_status, status):
                wait(lambda st=st: "stopped" in st.inner_text(), 20, "stopped status")
            time.sleep(0.5)  # a last update may still be on its way
            stopped_ticks, stopped_points = _ticks(status.inner_text()), page.evaluate(CDS_LENGTHS)
            time.sleep(1.5)
            assert _ticks(status.inner_text()) == stopped_ticks > _ticks(seen)
            assert _ticks(other_status.inner_text()) == stopped_ticks
            assert page.evaluate(CDS_LENGTHS) == stopped_points  # nothing moves any more
            assert max(stopped_points) == min(stopped_ticks, 1000)

            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 50_000  # a drawn page, not a blank one
            if os.environ.get("JARVIS_SCREENSHOT"):
                shutil.copy(shot, os.environ["JARVIS_SCREENSHOT"])
        finally:
            browser.close()
    assert problems == []

    proc.send_signal(signal.SIGTERM)  # a clean shutdown commits every tick
    assert proc.wait(20) == 0, log.read_text()
    from jarvis_helpers import Store

    store = Store(f"sqlite:///{tmp_path / 'app.sqlite'}")
    assert store.count_ticks("jarvis") == stopped_ticks
    assert f"stopped: jarvis [replay:BTC/USD] stopped | ticks {stopped_ticks}" in log.read_text()


def test_served_page_is_offline_and_quiet_once_stopped(tmp_path):
    """`jarvis serve --feed replay --interval 0.05`: no request leaves the machine (CSS, fonts,
    module shims included); after Start and Stop the page does no periodic work: no message
    on its websocket, the busy indicator idle, two screenshots 3 s apart identical."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "jarvis_helpers", "serve", "--feed", "replay", "--port",
           str(port), "--interval", "0.05", "--db", f"sqlite:///{tmp_path / 'q.sqlite'}"]
    external, problems, frames = [], [], []
    with served(cmd, log, ready="JARVIS dashboard", cwd=tmp_path), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = offline_page(browser, external, problems, {"width": 1400, "height": 1300})
            page.on("websocket", lambda ws: ws.on("framereceived",
                                                  lambda f: frames.append((time.monotonic(), str(f)[:300]))))
            page.goto(f"http://127.0.0.1:{port}/")
            status = page.locator(".jarvis-status")
            status.wait_for()
            page.locator(".jarvis-start button").click()
            wait(lambda: _ticks(status.inner_text()) >= 20, 30, "ticks after Start")
            page.locator(".jarvis-stop button").click()
            wait(lambda: "stopped" in status.inner_text(), 20, "stopped status")
            page.wait_for_timeout(1500)  # the last update reaches the page (events flow)
            quiet_from = time.monotonic()
            first = page.screenshot()
            page.wait_for_timeout(3000)
            second = page.screenshot()
            late = [f for t, f in frames if t > quiet_from]
            # the busy indicator (Panel's spinner in the header), idle
            spinning = _deep(page, "deep(document, '.loader.spin').length")
            # a styled signals table: Panel's dataframe.css reached the table's shadow root
            sheets = _deep(page, "deep(document, 'link[rel=stylesheet]').filter(l => l.sheet)"
                                 ".map(l => l.href.split('/').pop().split('?')[0])")
        finally:
            browser.close()
    assert external == [], external
    assert late == [], f"{len(late)} websocket messages in the 3 s after Stop: {late}"
    assert first == second, "the stopped page still changes"
    assert "dataframe.css" in sheets, f"the signals table has no stylesheet: {sheets}"
    assert problems == [], problems
    assert spinning == 0


# The titles of every plot on the page (drawn on canvases, so read from the Bokeh models).
TITLES = """() => {
  const out = [];
  for (const doc of window.Bokeh.documents)
    for (const m of doc._all_models.values())
      if (m.type === 'Title' && m.text) out.push(m.text);
  return out;
}"""


def test_a_strategy_from_a_file_shows_its_indicator_panel(tmp_path):
    """`jarvis serve --strategy tests/user_strategies.py:Momentum`: the page draws the
    strategy's own column in a panel below the price, and it fills when the bot runs."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    log = tmp_path / "serve.log"
    spec = f"{Path(__file__).parent / 'user_strategies.py'}:Momentum"
    cmd = [sys.executable, "-m", "jarvis_helpers", "serve", "--feed", "replay", "--port",
           str(port), "--interval", "0.01", "--db", f"sqlite:///{tmp_path / 's.sqlite'}",
           "--strategy", spec, "--param", "lookback=5"]
    problems = []
    with served(cmd, log, ready="JARVIS dashboard", cwd=tmp_path), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page, status = _open_dashboard(browser, f"http://127.0.0.1:{port}/", 1600, problems)
            titles = page.evaluate(TITLES)
            page.locator(".jarvis-start button").click()
            wait(lambda: _ticks(status.inner_text()) >= 40, 30, "ticks after Start")
            page.locator(".jarvis-stop button").click()
            wait(lambda: "stopped" in status.inner_text(), 20, "stopped status")
            page.wait_for_timeout(1000)
            header = page.locator("table.dataframe thead").inner_text()
            lengths = page.evaluate(CDS_LENGTHS)
        finally:
            browser.close()
    assert "Momentum: momentum" in titles, titles  # the indicator panel below the price
    assert any("Momentum" in t and "buys and sells" in t for t in titles), titles
    assert "momentum" in header and "sma" not in header  # the signals table: its columns
    assert max(lengths) >= 40
    assert problems == []
