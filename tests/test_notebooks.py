"""The solved notebooks' conventions (nbval itself runs them: see the root conftest.py).

These checks read the notebooks' JSON only (no kernel), so they are fast:
outputs stored only where nbval compares them, Panel/widget cells ignored by nbval,
Panel/Bokeh resources from the Jupyter server (loaded before any plotting import), the common skeleton, and
exercises the student copies can cut out.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLVED = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK, IGNORE = "# NBVAL_CHECK_OUTPUT", "# NBVAL_IGNORE_OUTPUT"
MARKERS = re.compile(r"^\s*#\s*NBVAL_\w+", re.M)
DISPLAYS_PANEL = re.compile(r"^(pn\.extension|dashboard|controls|Dashboard\(|BotControls\(|\w*_controls)\b")

pytestmark = pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _first_line(cell) -> str:
    lines = cell.source.splitlines()
    return lines[0].strip() if lines else ""


def _read(path):
    return nbformat.read(str(path), as_version=4)


def test_outputs_are_stored_only_in_checked_cells(path):
    nb = _read(path)
    checked = [c for c in _code(nb) if _first_line(c) == CHECK]
    assert checked, f"{path.name}: no '{CHECK}' cell: nbval would compare nothing"
    for cell in _code(nb):
        if _first_line(cell) == CHECK:
            assert cell.outputs, f"{path.name}: a checked cell has no stored output:\n{cell.source}"
            kinds = {o.output_type for o in cell.outputs}
            names = {o.get("name") for o in cell.outputs if o.output_type == "stream"}
            assert "error" not in kinds and "stderr" not in names, (
                f"{path.name}: a checked cell stored an error or a warning:\n{cell.source}")
        else:
            assert not cell.outputs and cell.execution_count is None, (
                f"{path.name}: outputs stored in an unchecked cell:\n{cell.source[:200]}")


def test_nbval_markers_are_on_the_first_line(path):
    for cell in _code(_read(path)):
        markers = MARKERS.findall(cell.source)
        assert len(markers) <= 1, f"{path.name}: several nbval markers in one cell"
        if markers:
            assert _first_line(cell) in (CHECK, IGNORE), (
                f"{path.name}: an nbval marker must be the cell's first line:\n{cell.source[:200]}")


def test_panel_and_widget_cells_are_ignored_by_nbval(path):
    for cell in _code(_read(path)):
        last = cell.source.strip().splitlines()[-1] if cell.source.strip() else ""
        if DISPLAYS_PANEL.match(last) and "=" not in last.split("(")[0]:
            assert _first_line(cell) == IGNORE, (
                f"{path.name}: a cell displaying Panel or widgets needs '{IGNORE}':\n{cell.source[:200]}")


HVPLOT_IMPORT = re.compile(r"^\s*(import|from)\s+hvplot\b", re.M)
INLINE = re.compile(r"(pn\.extension|hv\.extension)\([^)]*inline=True")
EXTENSION = re.compile(r"^from jarvis_helpers(?:\.dashboard)? import extension\b.*?^extension\(\)", re.M | re.S)


def test_resources_come_from_the_jupyter_server(path):
    """Panel/HoloViews/Bokeh JavaScript from the Jupyter server (``dashboard.extension()``),
    called before any hvplot import (importing hvplot loads them from a CDN otherwise: blank
    plots offline), and never inlined (6 MB in every saved notebook)."""
    code = "\n".join(c.source for c in _code(_read(path)))
    plots = ("Dashboard(", "pn.", "hv.", "hvplot", ".plot_", "sweep_heatmap(")
    if not any(p in code for p in plots):
        pytest.skip(f"{path.name} draws no plots")
    plot = HVPLOT_IMPORT.search(code)
    head = code[: plot.start()] if plot else code
    assert EXTENSION.search(head), (
        f"{path.name}: call extension() (from jarvis_helpers.dashboard) in the imports cell, "
        "before importing hvplot, or JupyterLab without internet shows blank plots")
    assert not INLINE.search(code), f"{path.name}: inline=True pastes ~6 MB of JavaScript into the notebook"


def test_skeleton(path):
    nb = _read(path)
    text = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert nb.cells[0].cell_type == "markdown" and "What you will build" in nb.cells[0].source
    assert any(t.lstrip().startswith("## Imports") for t in text), f"{path.name}: no '## Imports'"
    assert "## Recap" in text[-1], f"{path.name}: the last markdown cell should be the recap"
    assert any("### BEGIN SOLUTION" in c.source for c in _code(nb)), f"{path.name}: no exercise"


def test_runs_on_the_project_kernel(path):
    assert _read(path).metadata.kernelspec.name == "python3"


def test_saved_notebooks_stay_small(path):
    """No saved widget state, no inline JavaScript/HTML in outputs: text only (the committed
    notebook is what a student downloads; a saved 04 once grew from 54 KB to 604 KB)."""
    nb = _read(path)
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state (run store_checked_outputs)"
    for cell in _code(nb):
        for output in cell.outputs:
            extra = set(output.get("data", {})) - {"text/plain"}
            assert not extra, f"{path.name}: rich output {sorted(extra)} stored in:\n{cell.source[:200]}"
    assert path.stat().st_size < 40_000, f"{path.name}: {path.stat().st_size} bytes"
