"""Manual check, as a student would: JupyterLab + headless Chromium drive notebook 04.

Starts JupyterLab from this venv on a copy of notebooks/ (so nothing in the repository is
autosaved), opens 04_jarvis_bot.ipynb in Chromium (no network: the page must render from
the inline resources), runs all cells, presses Start, checks that the status label and
the dashboard move, presses Stop, and saves screenshots in artifacts/lab/.

    .venv/bin/python scripts/check_lab.py [--port 8899] [--seconds 4]
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "artifacts" / "lab"
CHROMIUM = os.environ.get("JARVIS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8899)
    ap.add_argument("--seconds", type=float, default=4.0, help="how long the bot runs")
    args = ap.parse_args(argv)
    import nbformat
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="jarvis-lab-"))
    for path in (ROOT / "notebooks").glob("*.ipynb"):  # copies without stored outputs
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, str(work / path.name))
    # Render every cell (JupyterLab 4 otherwise virtualises cells scrolled out of view).
    settings = work / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    token = secrets.token_hex(16)
    env = {**os.environ, "JARVIS_FEED": "replay"}
    lab = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "jupyter"), "lab", "--no-browser", f"--port={args.port}",
         f"--IdentityProvider.token={token}", f"--notebook-dir={work}", "--ServerApp.ip=127.0.0.1",
         f"--LabApp.user_settings_dir={work / '.settings'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(OUT / "lab.log", "w"),
        start_new_session=True)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_http(f"{base}/api/status?token={token}")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/04_jarvis_bot.ipynb?token={token}")
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
            page.locator(".jp-OutputArea-output", has_text=re.compile(r"\d+ ticks replayed")).wait_for(
                timeout=180_000)
            try:
                page.wait_for_selector(".widget-button", state="attached", timeout=30_000)
            except Exception:
                page.screenshot(path=str(OUT / "04_no_widgets.png"))
                print(page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output')]
                    .map(e => e.className + ' :: ' + e.innerText.slice(0, 100))"""))
                raise
            print(f"run all: the replay summary is shown {time.monotonic() - started:.1f} s after 'Run All'")

            page.screenshot(path=str(OUT / "04_after_run_all.png"), full_page=True)
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
            time.sleep(args.seconds)
            during = label_text(page)
            dash.scroll_into_view_if_needed()
            page.screenshot(path=str(OUT / "04_running.png"))
            stop.click()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-label')].some(e => e.textContent.includes('stopped'))",
                timeout=15_000)
            after = label_text(page)
            time.sleep(1.0)
            page.screenshot(path=str(OUT / "04_stopped.png"))
            browser.close()
        print("label before Start:", before_label)
        print("label 1 s after   :", running)
        print(f"label {args.seconds + 1:.0f} s after   :", during)
        print("label after Stop  :", after)
        moved = ticks_in(during) > ticks_in(running) > ticks_in(before_label) >= 0
        ok = moved and " running " in f" {running} " and "stopped" in after
        print("the bot ran, its ticks moved, and Stop stopped it:", ok)
        print("screenshots in", OUT.relative_to(ROOT))
        return 0 if ok else 1
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
