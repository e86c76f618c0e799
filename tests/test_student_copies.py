"""The student copies in notebooks/unsolved/: fresh, and runnable up to the first exercise."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

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


def test_unsolve_keeps_indentation_and_hint_and_leaves_a_placeholder_that_runs():
    src = ("try:\n    ### BEGIN SOLUTION: add one\n    y = x + 1\n    ### END SOLUTION\nfinally:\n"
           "    pass\ny = check('e', y)")
    assert make_student.unsolve(src) == (
        "try:\n    # TODO: add one\n    y = ...\nfinally:\n    pass\ny = check('e', y)")
    assert make_student.unsolve("### BEGIN SOLUTION\nx, _, z = 1, 2, 3\n### END SOLUTION\ncheck('e', x, z)") == (
        "# TODO: your code here\nx = ...\nz = ...\ncheck('e', x, z)")
    loop = "for i in range(3):\n    rows.append(i)"
    assert make_student.unsolve(f"### BEGIN SOLUTION\n{loop}\n### END SOLUTION\ncheck('e', rows)") == (
        "# TODO: your code here\npass\ncheck('e', rows)")
    method = ("class A:\n    def rules(self):\n        ### BEGIN SOLUTION\n        return 1\n"
              "        ### END SOLUTION\n\nA = check('e', A)")
    assert make_student.unsolve(method) == (
        "class A:\n    def rules(self):\n        # TODO: your code here\n        return ...\n\nA = check('e', A)")


def test_a_solution_without_a_check_is_refused():
    with pytest.raises(make_student.MarkerError, match="not followed by a check"):
        make_student.unsolve("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nprint(x)", where="nb cell 3")


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
                assert "# TODO:" in u.source and "SOLUTION" not in u.source
                assert "NotImplementedError" not in u.source
            if u.cell_type == "code":
                assert u.outputs == [] and u.execution_count is None


@pytest.mark.parametrize("path", SOLVED, ids=[p.stem for p in SOLVED])
def test_student_copy_runs_to_the_end_with_every_exercise_not_done(path, tmp_path):
    """A student copy, as generated, on a real kernel (replay feed, no network): no cell
    fails, and each exercise's check says "not done yet" once and carries on."""
    from jarvis_helpers.exercises import exercises

    nb = nbformat.read(str(NOTEBOOKS / "unsolved" / path.name), as_version=4)
    env = {**os.environ, "JARVIS_FEED": "replay"}
    env.pop("JARVIS_PG_URL", None)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    names = [n for n, ex in exercises().items() if ex.notebook == path.stem]
    assert names, f"{path.name} has no exercise with a check"
    for name in names:
        assert text.count(f"Exercise {name} is not done yet.") == 1, (name, text)
    assert "right." not in text and "Traceback" not in text
