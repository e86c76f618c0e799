"""The student copies in notebooks/unsolved/: fresh, and runnable up to the first exercise."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_student)

SOLVED = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(SOLVED) >= 4, SOLVED


def test_committed_student_copies_match_a_fresh_generation():
    fresh = make_student.generate()
    assert set(fresh) == set((NOTEBOOKS / "unsolved").glob("*.ipynb")), (
        "notebooks/unsolved/ does not have one copy per solved notebook: run `make student`")
    stale = [p.name for p, text in fresh.items() if p.read_text() != text]
    assert not stale, f"stale student copies {stale}: run `make student` and commit"


def test_check_mode_reports_up_to_date():
    assert make_student.main(["--check"]) == 0


def test_unsolve_keeps_indentation_and_hint():
    src = "try:\n    ### BEGIN SOLUTION: add one\n    y = x + 1\n    ### END SOLUTION\nfinally:\n    pass"
    assert make_student.unsolve(src) == (
        "try:\n    # TODO: add one\n    raise NotImplementedError\nfinally:\n    pass")
    assert make_student.unsolve("### BEGIN SOLUTION\nx = 1\n### END SOLUTION") == (
        "# TODO: your code here\nraise NotImplementedError")


@pytest.mark.parametrize("src", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_are_reported(src):
    with pytest.raises(make_student.MarkerError, match="SOLUTION"):
        make_student.unsolve(src, where="nb.ipynb cell 3")


def test_student_copy_keeps_every_cell_and_strips_outputs():
    for path in SOLVED:
        solved = nbformat.read(str(path), as_version=4)
        student = nbformat.read(str(NOTEBOOKS / "unsolved" / path.name), as_version=4)
        assert [c.cell_type for c in student.cells] == [c.cell_type for c in solved.cells]
        for s, u in zip(solved.cells, student.cells):
            if s.cell_type == "markdown" or not make_student.is_exercise(s):
                assert u.source == s.source, f"{path.name}: a non-exercise cell changed"
            else:
                assert "raise NotImplementedError" in u.source and "SOLUTION" not in u.source
            if u.cell_type == "code":
                assert u.outputs == [] and u.execution_count is None


def _first_exercise(nb) -> int:
    for i, cell in enumerate(nb.cells):
        if "raise NotImplementedError" in cell.source and cell.cell_type == "code":
            return i
    return -1


@pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])
def test_student_copy_runs_until_its_first_exercise(path, tmp_path):
    """Every cell before the first exercise runs on a real kernel (replay feed, no network);
    the exercise cell itself stops with NotImplementedError, as a student would see it."""
    nb = nbformat.read(str(NOTEBOOKS / "unsolved" / path.name), as_version=4)
    first = _first_exercise(nb)
    assert first > 0, f"{path.name} has no exercise"
    nb.cells = nb.cells[: first + 1]
    env = {**os.environ, "JARVIS_FEED": "replay"}
    env.pop("JARVIS_PG_URL", None)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with pytest.raises(CellExecutionError) as failed:
        client.execute(env=env)
    assert "NotImplementedError" in str(failed.value)
    ran = [c for c in nb.cells[:first] if c.cell_type == "code"]
    errors = [o for c in ran for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert nb.cells[first].outputs[-1].ename == "NotImplementedError"
