"""Run solved notebooks on the replay feed and keep only the outputs nbval checks.

Cells whose first line is ``# NBVAL_CHECK_OUTPUT`` keep their fresh outputs as text (nbval
compares them in ``make test``); every other cell is stored without outputs, and the saved
widget state is dropped, so the committed notebooks stay small. Run it after
editing a solved notebook, then ``make student``.

    python scripts/store_checked_outputs.py                      # every notebooks/*.ipynb
    python scripts/store_checked_outputs.py notebooks/02_persisting_data.ipynb

>>> is_checked({"cell_type": "code", "source": "# NBVAL_CHECK_OUTPUT\\nprint(1)"})
True
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    lines = cell["source"].splitlines()
    return cell["cell_type"] == "code" and bool(lines) and lines[0].strip() == MARK


def strip(nb) -> None:
    """Keep only checked outputs, as text: no widget state, no inline JavaScript or HTML
    (a saved notebook 04 once grew from 54 KB to 604 KB), no timings."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if not is_checked(cell):
            cell.outputs = []
            cell.execution_count = None
        for output in cell.outputs:
            data = output.get("data")
            if data:
                for mime in [m for m in data if m != "text/plain"]:
                    del data[mime]


def refresh(path: Path) -> float:
    nb = nbformat.read(str(path), as_version=4)
    env = {**os.environ, "JARVIS_FEED": "replay"}  # deterministic and offline, as in the tests
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute(env=env)
    took = time.perf_counter() - started
    strip(nb)
    nbformat.write(nb, str(path))
    return took


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    paths = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        took = refresh(path.resolve())
        print(f"{path.name}: ran in {took:.1f} s, checked outputs stored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
