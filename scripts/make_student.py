"""Generate the student copies: ``notebooks/unsolved/`` from the solved ``notebooks/*.ipynb``.

In every code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
become a ``# TODO: ...`` and ``raise NotImplementedError``, at the marker's indentation.
The TODO text is whatever follows the BEGIN marker after a colon, e.g.
``### BEGIN SOLUTION: fetch five ticks`` gives ``# TODO: fetch five ticks``.
Every other cell and line is kept; outputs and execution counts are stripped.

    python scripts/make_student.py            # (re)write notebooks/unsolved/
    python scripts/make_student.py --check    # exit 1 if the committed copies are stale

>>> print(unsolve("x = 1\\n    ### BEGIN SOLUTION: add two\\n    y = x + 2\\n    ### END SOLUTION\\nprint(y)"))
x = 1
    # TODO: add two
    raise NotImplementedError
print(y)
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLVED = ROOT / "notebooks"
UNSOLVED = SOLVED / "unsolved"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)###[ \t]*BEGIN SOLUTION(?:[ \t]*:[ \t]*(?P<hint>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*###[ \t]*END SOLUTION[ \t]*$")


class MarkerError(ValueError):
    """A BEGIN without END (or the reverse): the message names the notebook and cell."""


def unsolve(source: str, where: str = "cell") -> str:
    """Replace every marked solution in one cell's source by a TODO and a raise."""
    out, inside = [], False
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where}: '### BEGIN SOLUTION' inside another solution")
            inside = True
            indent, hint = begin["indent"], begin["hint"] or "your code here"
            out.append(f"{indent}# TODO: {hint}")
            out.append(f"{indent}raise NotImplementedError")
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{where}: '### END SOLUTION' without a BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '### BEGIN SOLUTION' without '### END SOLUTION'")
    return "\n".join(out)


def is_exercise(cell) -> bool:
    return cell.cell_type == "code" and any(BEGIN.match(line) for line in cell.source.splitlines())


def student_copy(nb):
    """The student version of a notebook node (the input is not modified)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # saved widget state: large, and stale in a fresh copy
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = unsolve(cell.source, where=f"cell {i}")
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def render(nb) -> str:
    """The notebook as the exact text written to disk (stable, so copies can be diffed)."""
    return nbformat.writes(nb) + "\n"


def solved_notebooks() -> list[Path]:
    return sorted(SOLVED.glob("*.ipynb"))


def generate() -> dict[Path, str]:
    """Map each student-copy path to its fresh text."""
    result = {}
    for path in solved_notebooks():
        nb = nbformat.read(str(path), as_version=4)
        try:
            result[UNSOLVED / path.name] = render(student_copy(nb))
        except MarkerError as exc:
            raise MarkerError(f"{path.name}: {exc}") from None
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if notebooks/unsolved/ is out of date")
    args = parser.parse_args(argv)
    try:
        fresh = generate()
    except MarkerError as exc:
        print(f"make_student: {exc}", file=sys.stderr)
        return 2
    stale = [p for p, text in fresh.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in UNSOLVED.glob("*.ipynb") if p not in fresh]
    if args.check:
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)}")
        for p in extra:
            print(f"no solved source: {p.relative_to(ROOT)}")
        return 1 if stale or extra else 0
    UNSOLVED.mkdir(exist_ok=True)
    for p in stale:
        p.write_text(fresh[p])
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)} (its solved notebook is gone)")
    if not stale and not extra:
        print("notebooks/unsolved/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
