"""Seconds per notebook: its imports cell (what a student pays on every kernel restart) and
the whole notebook, executed cell by cell with nbclient on a fresh kernel of this
environment (replay feed, as the test suite runs them), next to the budgets, and the size
of the notebook once saved with its outputs.

Budgets: imports cell <= 3 s (issue 10); each notebook < 20 s, all < 60 s (issue 3).

    .venv/bin/python benchmarks/bench_notebooks.py [--root DIR] [--runs 1] [01 03 ...]

``--root`` measures another checkout (e.g. a ``git worktree`` of HEAD in /tmp, before a
change): its notebooks run with its own ``jarvis_helpers`` first on the kernel's path.
``--json FILE`` also writes the figures, so that a "before" run can be printed beside an
"after" run: ``--before FILE`` does that.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORTS_BUDGET, EACH, ALL = 3.0, 20.0, 60.0


def imports_cell(nb) -> int:
    """Index of the first code cell that imports something (the notebook's imports cell)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(
                line.lstrip().startswith(("import ", "from ")) for line in cell.source.splitlines()):
            return i
    return -1


def run_notebook(path: Path, root: Path) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    first = imports_cell(nb)
    work = Path(tempfile.mkdtemp(prefix="jarvis-bench-nb-"))
    shutil.copytree(path.parent, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        "*.sqlite*", "*.log", "unsolved", "__pycache__"))
    env_saved = {k: os.environ.get(k) for k in ("JARVIS_FEED", "PYTHONPATH")}
    os.environ["JARVIS_FEED"] = "replay"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env_saved["PYTHONPATH"]])])
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    times = []
    started = time.perf_counter()
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                t = time.perf_counter()
                if cell.cell_type == "code":
                    try:
                        client.execute_cell(cell, i)
                    except Exception as exc:  # noqa: BLE001 - the exercise cells may raise on purpose
                        if "NotImplementedError" not in str(exc):
                            print(f"    {path.name} cell {i}: {type(exc).__name__}", file=sys.stderr)
                times.append(time.perf_counter() - t)
    finally:
        for k, v in env_saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - started
    saved = len(nbformat.writes(nb).encode())
    return {"imports": times[first] if first >= 0 else float("nan"), "total": total,
            "saved_kb": saved / 1024}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout to measure")
    ap.add_argument("--runs", type=int, default=1, help="runs per notebook (the best is kept)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--before", type=Path, help="figures of an earlier run to print beside")
    args = ap.parse_args(argv)
    root = args.root.resolve()
    paths = [p for p in sorted((root / "notebooks").glob("*.ipynb"))
             if not args.only or any(p.stem.startswith(o) for o in args.only)]
    figures = {}
    for path in paths:
        runs = [run_notebook(path, root) for _ in range(max(1, args.runs))]
        figures[path.stem] = {k: min(r[k] for r in runs) for k in runs[0]}
    before = json.loads(args.before.read_text()) if args.before else {}
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"notebooks of {root} (best of {args.runs}; load average {load:.1f} on "
          f"{os.cpu_count()} cores); budgets: imports cell {IMPORTS_BUDGET:.0f} s, "
          f"notebook {EACH:.0f} s")
    head = f"  {'notebook':28} {'imports cell':>14} {'whole notebook':>16} {'saved size':>12}"
    print(head + ("   before: imports / whole / size" if before else ""))
    for name, f in figures.items():
        line = (f"  {name:28} {f['imports']:12.2f} s {f['total']:14.1f} s {f['saved_kb']:9.0f} KB"
                f"  {'ok' if f['imports'] <= IMPORTS_BUDGET else 'imports over budget'}")
        if name in before:
            b = before[name]
            line += f"   {b['imports']:.2f} s / {b['total']:.1f} s / {b['saved_kb']:.0f} KB"
        print(line)
    total = sum(f["total"] for f in figures.values())
    print(f"  {'all notebooks':28} {'':14} {total:14.1f} s"
          + (f"   before {sum(b['total'] for b in before.values()):.1f} s" if before else ""))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
