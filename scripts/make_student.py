"""Generate the student copies: ``notebooks/unsolved/`` from the solved ``notebooks/*.ipynb``.

In every code cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
become a ``# TODO: ...`` and a *placeholder* that runs without an error and leaves the
answer "not done": ``name = ...`` for each name the solution assigns, ``return ...`` when
the solution is a function's body, else ``pass``. Each solution must be followed, in the
same cell, by a ``check("NAME", ...)`` line (``jarvis_helpers.exercises``): it says "not
done yet" for the placeholder and hands the cells below the package's own answer, so a
student copy runs top to bottom whatever is skipped. The TODO text is whatever follows
the BEGIN marker after a colon, e.g. ``### BEGIN SOLUTION: fetch five ticks`` gives
``# TODO: fetch five ticks``. Every other cell and line is kept; outputs and execution
counts are stripped.

    python scripts/make_student.py            # (re)write notebooks/unsolved/
    python scripts/make_student.py --check    # exit 1 if the committed copies are stale

>>> print(unsolve("x = 1\\n### BEGIN SOLUTION: add two\\ny = x + 2\\n### END SOLUTION\\ny = check('ex', y)"))
x = 1
# TODO: add two
y = ...
y = check('ex', y)
>>> print(unsolve("def f(x):\\n    ### BEGIN SOLUTION\\n    return x + 1\\n    ### END SOLUTION\\nf = check('ex', f)"))
def f(x):
    # TODO: your code here
    return ...
f = check('ex', f)
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLVED = ROOT / "notebooks"
UNSOLVED = SOLVED / "unsolved"

BEGIN = re.compile(r"^(?P<indent>[ \t]*)###[ \t]*BEGIN SOLUTION(?:[ \t]*:[ \t]*(?P<hint>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*###[ \t]*END SOLUTION[ \t]*$")
CHECK = re.compile(r"""\bcheck\(\s*["'](?P<name>[\w.-]+)["']""")
DEF = re.compile(r"^[ \t]*(async[ \t]+)?def[ \t]")


class MarkerError(ValueError):
    """A BEGIN without END (or the reverse): the message names the notebook and cell."""


def placeholder(solution: list[str], indent: str, before: list[str]) -> list[str]:
    """The lines that stand in for a solution: they run and leave the answer "not done"."""
    enclosing = next((line for line in reversed(before)
                      if line.strip() and len(line) - len(line.lstrip()) < len(indent)), "")
    if DEF.match(enclosing):
        return [f"{indent}return ..."]
    code = textwrap.dedent("\n".join(solution))
    tree = compile(code, "<solution>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    names: list[str] = []

    def collect(target):
        if isinstance(target, ast.Name):
            if not target.id.startswith("_") and target.id not in names:
                names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                collect(element)

    for node in tree.body:
        for target in getattr(node, "targets", None) or [getattr(node, "target", None)]:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                collect(target)
    return [f"{indent}{name} = ..." for name in names] or [f"{indent}pass"]


def unsolve(source: str, where: str = "cell") -> str:
    """Replace every marked solution in one cell's source by a TODO and a placeholder;
    a solution not followed by a ``check("NAME", ...)`` line is a MarkerError."""
    out, inside, solution, indent, checks_due = [], False, [], "", 0
    for line in source.splitlines():
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where}: '### BEGIN SOLUTION' inside another solution")
            inside, solution = True, []
            indent, hint = begin["indent"], begin["hint"] or "your code here"
            out.append(f"{indent}# TODO: {hint}")
        elif END.match(line):
            if not inside:
                raise MarkerError(f"{where}: '### END SOLUTION' without a BEGIN")
            inside = False
            try:
                out.extend(placeholder(solution, indent, out[:-1]))
            except SyntaxError as exc:
                raise MarkerError(f"{where}: the solution does not parse ({exc.msg})") from None
            checks_due += 1
        elif inside:
            solution.append(line)
        else:
            if CHECK.search(line):
                checks_due = 0
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '### BEGIN SOLUTION' without '### END SOLUTION'")
    if checks_due:
        raise MarkerError(f"{where}: a solution is not followed by a check(\"NAME\", ...) line "
                          "(see jarvis_helpers/exercises.py)")
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
