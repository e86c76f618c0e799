"""Manual check, as a student would: JupyterLab + headless Chromium, offline, every notebook.

Starts JupyterLab from this venv on an output-free copy of notebooks/ (so nothing in the
repository is autosaved) and, for every notebook, opens it in Chromium with every request
that does not go to 127.0.0.1/localhost aborted and recorded (a student offline), runs all
cells, waits until the kernel is idle, counts the drawn Bokeh canvases and the widgets in
each plot/widget cell, collects console errors and saves a screenshot of every such cell in
artifacts/lab/. In notebook 04 it then presses Start, checks that the status label and the
dashboard move, and presses Stop.

Each run is checked three ways: points complete (every point the kernel streamed is in the
page's data sources, once, in order: notebook 03's scatters, notebook 04's dashboard after
Stop), outputs in place (every line a cell printed in the notebook's stored run is shown
under that cell, and no cell shows a line that belongs to another cell) and external
requests (none).

JupyterLab is checked with both values of its "comms over subshells" setting: ``disabled``
(messages from the page handled between cells, as in classic Jupyter) and JupyterLab's own
default ``perCommTarget`` (a kernel thread per comm target; what every user gets, the
workbook ships no override: jupyter-config/README.md):

    .venv/bin/python scripts/check_lab.py [--settings both|disabled|default] [--runs 10]
        [--port 8899] [--seconds 4] [--only 03 04] [--notebooks DIR]

``--runs N`` runs notebooks 03 and 04 N times per setting (the others once). The report
ends with one line per notebook and setting: runs with points complete, runs with outputs
in place, external requests. Exit status 0 only when everything rendered and was complete.

With ``--cdn-from-disk`` Panel's CDN requests are answered from the installed files (as a
student online would see it); screenshots go to artifacts/lab/cdn_from_disk/ to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "lab"
CHROMIUM = os.environ.get("JARVIS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# Which cells must show a plot (drawn Bokeh canvas) or ipywidgets, found by a piece of
# their source (robust to cells being added or moved).
PLOTS = {
    "03_streaming_plots": ['title="every point so far"', 'title="the newest 10 points"',
                           "streaming prices (newest 200)"],
    "04_jarvis_bot": ["dashboard = Dashboard(bot", "Dashboard(final"],
    "05_backtesting": ["result.plot_equity()", "result.plot_drawdown()", "result.plot_trades(",
                       'sweep_heatmap(table, "total_return")'],
}
CLEANUP = "dashboard.close()"
WIDGETS = {
    "04_jarvis_bot": ["controls = BotControls(bot)", "broken_controls  #"],
}

# Per cell: canvases of non-zero size and how many of them hold a drawing (more than one
# colour in a pixel sample), Bokeh panes (inside shadow roots), ipywidgets, output text.
CELL_JS = """
(i) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
  const out = cell && cell.querySelector('.jp-OutputArea');
  const r = {canvases: 0, drawn: 0, bokeh: 0, widgets: 0, mimes: [], text: ''};
  if (!out) return r;
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS' && el.width > 0 && el.height > 0) {
        r.canvases += 1;
        const ctx = el.getContext('2d');
        if (ctx) {
          const d = ctx.getImageData(0, 0, el.width, el.height).data;
          const seen = new Set();
          const step = Math.max(4, 4 * Math.floor(d.length / 4 / 20000));
          for (let k = 0; k < d.length && seen.size < 3; k += step)
            seen.add(d[k] + ',' + d[k+1] + ',' + d[k+2] + ',' + d[k+3]);
          if (seen.size > 1) r.drawn += 1;
        }
      }
      if ([...el.classList].some(c => c === 'bk-Figure' || c === 'bk-Canvas')) r.bokeh += 1;
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(out);
  r.widgets = out.querySelectorAll('.jupyter-widgets.widget-button, .widget-label').length;
  r.mimes = [...out.querySelectorAll('.jp-OutputArea-output')].map(e => e.getAttribute('data-mime-type') || '');
  r.text = out.innerText.slice(0, 300);
  return r;
}
"""

STATE_JS = """
() => ({
  status: document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status'),
  prompts: [...document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell .jp-InputPrompt')]
           .map(e => e.textContent.trim()),
  errors: [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map((c, i) =>
           (c.querySelector('.jp-OutputArea')?.innerText || '').includes('Traceback') ? i : -1)
         .filter(i => i >= 0),
})
"""


# Rows of every ColumnDataSource the browser holds, per Bokeh document (what is drawn).
ROWS_JS = """
() => (window.Bokeh?.documents || []).map(d => {
  const models = d._all_models instanceof Map ? [...d._all_models.values()] : [...(d.all_models || [])];
  return models.filter(m => typeof m.get_length === 'function').map(m => m.get_length() ?? 0);
})
"""


# The x values of every data source that has an x column, per Bokeh document, sorted, and
# for each source with a timestamp column: rows, and whether the times strictly increase
# (a dropped, repeated or reordered update shows here, not in Python).
POINTS_JS = """
() => (window.Bokeh?.documents || []).map(d => {
  const models = d._all_models instanceof Map ? [...d._all_models.values()] : [...(d.all_models || [])];
  const col = (m, k) => m.data instanceof Map ? m.data.get(k) : m.data?.[k];
  return models.filter(m => typeof m.get_length === 'function').map(m => {
    const x = col(m, 'x'), t = col(m, 'timestamp');
    const r = {};
    if (x) r.x = Array.from(x).sort((a, b) => a - b);
    if (t) { const a = Array.from(t); r.rows = a.length;
             r.increasing = a.every((v, i) => i === 0 || v > a[i - 1]); }
    return r;
  });
})
"""
# Notebook 03: the x values each scatter must show once Run All is done, in page order.
POINTS = {"03_streaming_plots": [list(range(20)), list(range(20, 30))]}


def check_points(page, name):
    """Every emitted point (and only the newest of a window) reached the page, once."""
    shown = [src["x"] for doc in page.evaluate(POINTS_JS) for src in doc if "x" in src]
    ok = True
    for i, want in enumerate(POINTS.get(name, [])):
        got = shown[i] if i < len(shown) else None
        good = got == want
        ok &= good
        missing = sorted(set(want) - set(got or []))
        extra = [v for v in (got or []) if v not in want or (got or []).count(v) > 1]
        print(f"  scatter {i + 1}: {len(got or [])} points in the page, {len(want)} expected:",
              "all there" if good else f"MISSING {missing} EXTRA/REPEATED {sorted(set(extra))}")
    return ok


OUTPUTS_JS = """
() => [...document.querySelectorAll('.jp-Notebook .jp-Cell')].map(c =>
  [...c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"],'
    + ' .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],'
    + ' .jp-OutputArea-output[data-mime-type="text/plain"]')]
   .filter(o => !o.closest('.jupyter-widgets'))
   .map(o => o.innerText).join('\\n'))
"""


def stored_lines(nb) -> list[set]:
    """Per cell: the non-empty text lines of its stored stream / text outputs."""
    out = []
    for cell in nb.cells:
        lines = set()
        for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
            text = o.get("text") or o.get("data", {}).get("text/plain") or ""
            lines |= {line.strip() for line in "".join(text).splitlines() if line.strip()}
        out.append(lines)
    return out


def check_outputs(page, expected, nb) -> bool:
    """Every cell's output lines: none that only another cell printed (in the stored run);
    every line of a deterministic cell (``NBVAL_CHECK_OUTPUT``) under its own cell."""
    shown = page.evaluate(OUTPUTS_JS)
    ok = True
    for i, text in enumerate(shown):
        lines = {line.strip() for line in text.splitlines() if line.strip()}
        own = expected[i] if i < len(expected) else set()
        for line in sorted(lines - own):
            others = [j for j, e in enumerate(expected) if j != i and line in e]
            if others:
                ok = False
                print(f"  OUTPUT OUT OF PLACE: cell {i} shows {line[:80]!r}, printed by cell {others}")
        if i < len(nb.cells) and "NBVAL_CHECK_OUTPUT" in nb.cells[i].source:
            for line in sorted(own - lines):
                ok = False
                print(f"  OUTPUT MISSING: cell {i} does not show {line[:80]!r}")
    return ok


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"JupyterLab did not answer at {url} within {timeout:.0f} s")


def label_text(page) -> str:
    return page.locator(".widget-label").first.inner_text()


def ticks_in(text: str) -> int:
    m = re.search(r"ticks (\d+)", text)
    return int(m.group(1)) if m else -1


def open_and_run_all(page, base, token, name, timeout=600):
    """Open notebook ``name`` and Run All; returns once every cell ran (or Run All stopped)."""
    # A workspace of its own, reset: only this notebook is open.
    page.goto(f"{base}/lab/workspaces/check{name[:2]}/tree/{name}.ipynb?reset&token={token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:  # JupyterLab may ask which kernel to start
        select.wait_for(timeout=10_000)
        select.click()
    except Exception:
        pass
    page.wait_for_function(
        "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status') === 'idle'",
        timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    started = time.monotonic()
    quiet_since = None
    while time.monotonic() - started < timeout:
        state = page.evaluate(STATE_JS)
        busy = state["status"] != "idle" or any("*" in p for p in state["prompts"])
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 2.0:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    time.sleep(2.0)  # let the last plots draw
    state = page.evaluate(STATE_JS)
    not_run = sum(1 for p in state["prompts"] if not re.search(r"\[\d+\]", p))
    return elapsed, not_run, state["errors"]


def check_cells(page, nb, name, markers, kind):
    """Inspect, and screenshot, the cells whose source holds one of ``markers``."""
    rows = []
    for marker in markers:
        index = next((i for i, c in enumerate(nb.cells) if marker in c.source), None)
        if index is None:
            rows.append({"cell": marker, "index": None, "ok": False, "why": "no such cell"})
            continue
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        cell.scroll_into_view_if_needed()
        time.sleep(0.5)
        info = page.evaluate(CELL_JS, index)
        shot = OUT / f"{name[:2]}_cell{index:02d}.png"
        try:
            cell.screenshot(path=str(shot))
        except Exception as exc:  # noqa: BLE001 - a screenshot is a bonus
            shot = f"(no screenshot: {exc})"
        ok = info["drawn"] > 0 if kind == "plot" else info["widgets"] > 0
        rows.append({"cell": marker, "index": index, "ok": ok, "shot": str(shot), **info})
    return rows


def bot_start_stop(page, seconds):
    """Notebook 04: Start, watch the label and dashboard move, Stop."""
    page.screenshot(path=str(OUT / "04_after_run_all.png"))
    start = page.locator(".widget-button", has_text="Start").first
    stop = page.locator(".widget-button", has_text="Stop").first
    start.scroll_into_view_if_needed()
    dash = page.locator(".bk-Column, .bk-panel-models-layout-Column").first
    before_label = label_text(page)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "04_before_start.png"))
    start.click()
    time.sleep(1.0)
    running = label_text(page)
    time.sleep(seconds)
    during = label_text(page)
    dash.scroll_into_view_if_needed()
    page.screenshot(path=str(OUT / "04_running.png"))
    stop.click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent.includes('stopped'))",
        timeout=15_000)
    after = label_text(page)
    ticks = ticks_in(after)

    def dashboard_lines():
        docs = [d for d in page.evaluate(POINTS_JS) if any("rows" in s for s in d)]
        return [s for s in docs[0] if s.get("rows")] if docs else []

    # The last updates reach the page (a loaded machine draws late): wait until the rows
    # stop changing, at most 15 s.
    lines, deadline = dashboard_lines(), time.monotonic() + 15
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        now = dashboard_lines()
        if now == lines and (not lines or lines[0]["rows"] >= min(ticks, 500)):
            break
        lines = now
    page.screenshot(path=str(OUT / "04_stopped.png"))
    # The live dashboard (first document with timestamped sources) must hold every tick
    # (fewer than its backlog of 500), each once and in order: no update lost or repeated.
    rows_ok = bool(lines) and all(s["rows"] == min(ticks, 500) and s["increasing"]
                                  for s in lines[:1]) and all(s["increasing"] for s in lines)
    print(f"  dashboard in the page after Stop: {[s['rows'] for s in lines]} rows "
          f"(ticks {ticks}), times increasing: {[s['increasing'] for s in lines]} ->",
          "OK" if rows_ok else "UPDATES LOST OR REPEATED")
    print("  label before Start:", before_label)
    print("  label 1 s after   :", running)
    print(f"  label {seconds + 1:.0f} s after   :", during)
    print("  label after Stop  :", after)
    moved = ticks_in(during) > ticks_in(running) > ticks_in(before_label) >= 0
    ok = moved and " running " in f" {running} " and "stopped" in after and rows_ok
    print("  the bot ran, its ticks moved, and Stop stopped it:", ok)
    return ok


def from_disk(url: str) -> Path | None:
    """The installed copy of a file Panel would fetch from its CDN, if there is one."""
    from panel.io.resources import CDN_DIST, DIST_DIR

    if not url.startswith(CDN_DIST):
        return None
    path = DIST_DIR / unquote(url[len(CDN_DIST):].split("?")[0])
    return path if path.is_file() else None


def shutdown_kernels(base, token):
    """Stop every kernel (one notebook at a time keeps the 2 cores free)."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as r:
        sessions = json.load(r)
    for s in sessions:
        req = urllib.request.Request(f"{base}/api/sessions/{s['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(req, timeout=30)


def comms_setting(base: str, token: str) -> str:
    """The commsOverSubshells value this JupyterLab uses (overrides and user settings applied)."""
    url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:kernels-settings?token={token}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        plugin = json.load(reply)  # the user's own value, else the (overridden) schema default
    default = plugin["schema"]["properties"]["commsOverSubshells"]["default"]
    return plugin["settings"].get("commsOverSubshells", default)


def reference_outputs(work: Path, name: str) -> list[set]:
    """Per cell, the text lines it prints when run by a kernel alone (nbclient, replay)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(work / f"{name}.ipynb"), as_version=4)
    run_dir = Path(tempfile.mkdtemp(prefix="jarvis-ref-"))
    saved = os.environ.get("JARVIS_FEED")
    os.environ["JARVIS_FEED"] = "replay"
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(run_dir)}}).execute()
    finally:
        if saved is None:
            os.environ.pop("JARVIS_FEED", None)
        else:
            os.environ["JARVIS_FEED"] = saved
        shutil.rmtree(run_dir, ignore_errors=True)
    return stored_lines(nb)


def start_lab(work: Path, port: int, token: str, setting: str):
    """JupyterLab on ``work`` with commsOverSubshells set, as a user setting, to "disabled"
    (``setting`` "disabled") or to JupyterLab's own default "perCommTarget" ("default")."""
    kernels = work / ".settings" / "@jupyterlab" / "apputils-extension" / "kernels-settings.jupyterlab-settings"
    value = "disabled" if setting == "disabled" else "perCommTarget"
    kernels.write_text(json.dumps({"commsOverSubshells": value}))
    env = {**os.environ, "JARVIS_FEED": "replay"}
    env.pop("JARVIS_PG_URL", None)
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--notebook-dir={work}", "--ServerApp.ip=127.0.0.1",
         f"--LabApp.user_settings_dir={work / '.settings'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(OUT / f"lab-{setting}.log", "w"),
        start_new_session=True)


def stop_lab(lab) -> None:
    os.killpg(lab.pid, signal.SIGTERM)
    try:
        lab.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(lab.pid, signal.SIGKILL)


def check_notebook(browser, base, token, name, nb, expected, args, tag):
    """One Run All of one notebook; returns (ok, points complete, outputs in place, requests)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    blocked, console_errors = [], []

    def route(r, _request=None, blocked=blocked):
        host = urlsplit(r.request.url).hostname or ""
        if host in LOCAL_HOSTS or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        elif args.cdn_from_disk and (local := from_disk(r.request.url)):
            r.fulfill(path=str(local))
        else:
            blocked.append(f"{r.request.resource_type}: {r.request.url}")
            r.abort("internetdisconnected")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m, e=console_errors: m.type == "error" and e.append(
        f"console: {m.text[:300]}"))
    page.on("pageerror", lambda exc, e=console_errors: e.append(f"pageerror: {exc}"[:300]))
    print(f"== {name} [{tag}]")
    elapsed, not_run, failed = open_and_run_all(page, base, token, name)
    print(f"  run all: {elapsed:.1f} s; cells not run: {not_run}; cells with a traceback: {failed}")
    ok = not_run == 0 and not failed
    for index in failed:  # the end of each traceback shown on the page
        text = page.evaluate(
            "(i) => document.querySelectorAll('.jp-Notebook .jp-Cell')[i]"
            ".querySelector('.jp-OutputArea').innerText", index)
        tail = [line for line in text.splitlines() if line.strip()]
        tail = tail[tail.index(next(t for t in tail if "Traceback" in t)):][-4:]
        print(f"    cell {index} shows a traceback ending:", *tail, sep="\n      ")
    for kind, table in (("plot", PLOTS), ("widget", WIDGETS)):
        for row in check_cells(page, nb, name, table.get(name, []), kind):
            ok &= row["ok"]
            what = (f"{row.get('drawn')}/{row.get('canvases')} canvases drawn"
                    if kind == "plot" else f"{row.get('widgets')} widget parts")
            print(f"  {kind} cell {row['index']} [{row['cell']}]: "
                  f"{'rendered' if row['ok'] else 'NOT RENDERED'} ({what}) -> {row.get('shot')}")
            if not row["ok"]:
                print("    outputs:", row.get("mimes"), "| text:", repr(row.get("text", ""))[:200])
    print("  rows of each data source in the browser, per Bokeh document:", page.evaluate(ROWS_JS))
    points = check_points(page, name)
    if name.startswith("04"):
        points &= bot_start_stop(page, args.seconds)
    in_place = check_outputs(page, expected, nb)
    print("  outputs in place:", in_place)
    page.screenshot(path=str(OUT / f"{name[:2]}_page.png"))
    print(f"  blocked external requests ({len(blocked)}):")
    for url in sorted(set(blocked)):
        print("   ", url, f"(x{blocked.count(url)})" if blocked.count(url) > 1 else "")
    page_errors = [e for e in console_errors if e.startswith("pageerror")]
    print(f"  console errors ({len(console_errors)}):")
    for e in sorted(set(console_errors)):
        print("   ", e)
    ok &= not page_errors and points and in_place and not blocked
    print(f"  {name} [{tag}]: {'OK' if ok else 'FAILED'}")
    context.close()
    shutdown_kernels(base, token)
    return ok, points, in_place, len(blocked)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--seconds", type=float, default=4.0, help="how long the bot runs")
    ap.add_argument("--cdn-from-disk", action="store_true",
                    help="answer Panel CDN requests with the installed files (as if online), "
                         "for screenshots to compare with the offline ones")
    ap.add_argument("--settings", choices=["both", "disabled", "default"], default="both",
                    help="JupyterLab's commsOverSubshells: 'disabled', JupyterLab's own "
                         "default ('perCommTarget'), or both (default)")
    ap.add_argument("--comm-subshells", action="store_true",
                    help="the same as --settings default")
    ap.add_argument("--runs", type=int, default=1, help="runs of notebooks 03 and 04 per setting")
    ap.add_argument("--only", nargs="*", default=None,
                    help="notebook number prefixes to check, e.g. 03 05 (default: all)")
    ap.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                    help="folder of the notebooks to check (default: notebooks/)")
    args = ap.parse_args(argv)
    import nbformat
    from playwright.sync_api import sync_playwright

    global OUT
    if args.cdn_from_disk:
        OUT = OUT / "cdn_from_disk"
    OUT.mkdir(parents=True, exist_ok=True)
    settings = (["default"] if args.comm_subshells else
                ["disabled", "default"] if args.settings == "both" else [args.settings])
    work = Path(tempfile.mkdtemp(prefix="jarvis-lab-"))
    notebooks = {}
    for path in sorted(args.notebooks.glob("*.ipynb")):  # copies without stored outputs
        nb = nbformat.read(str(path), as_version=4)
        # Notebook 04 ends by closing its dashboard and stores; Start/Stop is pressed after
        # Run All, so the check's copy leaves that clean-up cell out.
        nb.cells = [c for c in nb.cells if CLEANUP not in c.source]
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, str(work / path.name))
        if args.only is None or any(path.stem.startswith(p) for p in args.only):
            notebooks[path.stem] = nb
    # Render every cell (JupyterLab 4 otherwise virtualises cells scrolled out of view).
    tracker = work / ".settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = work / ".settings" / "@jupyterlab" / "apputils-extension"  # no "Jupyter news?" toast
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    print("reference outputs (each notebook run once by a kernel alone) ...", flush=True)
    expected = {name: reference_outputs(work, name) for name in notebooks}
    all_ok = True
    results: dict = {}
    try:
        for setting in settings:
            token = secrets.token_hex(16)
            lab = start_lab(work, args.port, token, setting)
            base = f"http://127.0.0.1:{args.port}"
            try:
                wait_http(f"{base}/api/status?token={token}")
                comms = comms_setting(base, token)
                print(f"==== JupyterLab commsOverSubshells: {comms} ({setting} setting)", flush=True)
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    for name, nb in notebooks.items():
                        runs = args.runs if name[:2] in ("03", "04") else 1
                        for run in range(runs):
                            tag = f"{comms}, run {run + 1}/{runs}"
                            got = check_notebook(browser, base, token, name, nb, expected[name],
                                                 args, tag)
                            results.setdefault((name, comms), []).append(got)
                            all_ok &= got[0]
                            sys.stdout.flush()
                    browser.close()
            finally:
                stop_lab(lab)
        print("\nsummary (runs: points complete / outputs in place / external requests):")
        for (name, comms), rows in results.items():
            n = len(rows)
            print(f"  {name:22} commsOverSubshells={comms:14} points complete {sum(r[1] for r in rows)}/{n}"
                  f"  outputs in place {sum(r[2] for r in rows)}/{n}"
                  f"  external requests {sum(r[3] for r in rows)}  ->"
                  f" {'OK' if all(r[0] for r in rows) else 'FAILED'}")
        print("screenshots in", OUT.relative_to(ROOT))
        print("all notebooks render offline:", all_ok)
        return 0 if all_ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
