"""The public surface: what notebooks and users import from ``jarvis_helpers``."""

import re
from pathlib import Path

import nbformat

import jarvis_helpers

ROOT = Path(__file__).resolve().parent.parent

STABLE = ("Bot Store PaperAccount ExchangeFeed ReplayFeed RandomWalkFeed open_feed generate_signals "
          "backtest load_sample Dashboard BotControls Strategy strategies check_strategy sweep download "
          "verify").split()  # DESIGN.md, "The stable surface": tests outside this repository use them


def test_the_stable_surface_is_exported():
    missing = [name for name in STABLE if name not in jarvis_helpers.__all__]
    assert missing == [], f"DESIGN.md's stable names not exported: {missing}"
    for name in STABLE:
        assert getattr(jarvis_helpers, name) is not None


def test_notebook_06_imports_only_the_public_surface():
    """Notebook 06 is what a student copies into their own project: it imports only names
    that ``jarvis_helpers/__init__.py`` exports, so it keeps working when private modules move."""
    nb = nbformat.read(ROOT / "notebooks" / "06_your_own_strategy.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    found = []
    for line in re.finditer(r"^\s*(from\s+jarvis_helpers[\w.]*\s+import\s+(?:\([^)]*\)|[^\n]*))", code, re.M):
        statement = line.group(1)
        module = statement.split()[1]
        assert module == "jarvis_helpers", f"06 imports from the private module {module}: {statement}"
        names = statement.split("import", 1)[1].split("#", 1)[0]
        for name in re.findall(r"[A-Za-z_]\w*", names):
            found.append(name)
            assert name in jarvis_helpers.__all__, f"06 imports {name!r}, which jarvis_helpers does not export"
    assert {"Strategy", "check_strategy", "backtest", "extension"} <= set(found), found
