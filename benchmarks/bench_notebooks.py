"""Time each solved notebook under nbval, as `make test` runs it, next to its budget.

Budget (issue 3): each notebook under 20 s, all of them under 60 s. The time per notebook
is the sum of its cells' setup + call + teardown (kernel start and shutdown included),
measured with the real suite options (replay feed, --nbval-lax, the project's kernel).

    .venv/bin/python benchmarks/bench_notebooks.py [notebooks/01_fetching_data.ipynb ...]
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EACH, ALL = 20.0, 60.0


class Timer:
    def __init__(self):
        self.seconds = defaultdict(float)
        self.failed = set()

    def pytest_runtest_logreport(self, report):
        name = report.nodeid.split("::")[0]
        self.seconds[name] += report.duration
        if report.failed:
            self.failed.add(name)


def main(argv=None) -> int:
    paths = list(argv if argv is not None else sys.argv[1:]) or sorted(
        str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("*.ipynb"))
    os.chdir(ROOT)
    timer = Timer()
    code = pytest.main(["-q", "-p", "no:randomly", "--no-header", *paths], plugins=[timer])
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"\nnbval time per notebook (budget {EACH:.0f} s each, {ALL:.0f} s in all; "
          f"load average {load:.1f} on {os.cpu_count()} cores)")
    for name, secs in sorted(timer.seconds.items()):
        verdict = "FAILED" if name in timer.failed else ("ok" if secs < EACH else "over budget")
        print(f"  {name:45} {secs:6.1f} s   budget {EACH:4.0f} s   {verdict}")
    total = sum(timer.seconds.values())
    print(f"  {'all notebooks':45} {total:6.1f} s   budget {ALL:4.0f} s   "
          f"{'ok' if total < ALL else 'over budget'}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
