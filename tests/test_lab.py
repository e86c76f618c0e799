"""The notebooks as a student uses them: JupyterLab from this environment, headless Chromium,
offline, Run All, every plot and widget drawn, the bot started and stopped from its buttons.

The work is done by ``scripts/check_lab.py`` (also run by hand, with screenshots in
artifacts/lab/); here it runs on a free port and must exit 0. In CI a missing browser fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_browser import _chromium, _free_port

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "jupyter-config" / "jarvis.json"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.d" / "jarvis.json"


def test_the_environment_has_the_workbooks_jupyterlab_settings():
    assert INSTALLED.exists(), (
        f"{INSTALLED} is missing: `make lab`/`make test` install it; in another environment "
        f"copy {SHIPPED.relative_to(ROOT)} there (see jupyter-config/README.md)")
    assert json.loads(INSTALLED.read_text()) == json.loads(SHIPPED.read_text()), (
        f"{INSTALLED} differs from {SHIPPED.relative_to(ROOT)}: run `make lab` or copy it again")


@pytest.mark.timeout(900)
def test_every_notebook_runs_and_draws_in_jupyterlab_offline():
    chromium = _chromium()
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_lab.py"), "--port", str(_free_port())],
        capture_output=True, text=True, timeout=850, cwd=ROOT,
        env={**os.environ, "JARVIS_CHROMIUM": chromium})
    report = run.stdout + run.stderr
    assert "JupyterLab commsOverSubshells: disabled" in report, report[-3000:]
    # notebook 03's streamed points, every one and in order (they went missing with subshells)
    assert report.count("expected: all there") == 2, report[-3000:]
    assert run.returncode == 0, report[-6000:]
