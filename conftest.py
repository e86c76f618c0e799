"""nbval wiring for the solved notebooks (``make test`` collects ``notebooks/*.ipynb``).

Kept here, at the repository root, so the folders students browse (``notebooks/``,
``notebooks/unsolved/``) hold notebooks only. Each notebook runs on a fresh kernel from
this environment (``--nbval-current-env``) with ``JARVIS_FEED=replay``: offline and
deterministic, whatever the shell says. The variable is set only while nbval starts the
notebook's kernel, so the rest of the suite sees the environment unchanged.

The student copies (``notebooks/unsolved/``) run under nbval too, as generated, every
exercise left undone: each cell must run without an error (the placeholders are "not done
yet" for the checks, which carry on with the package's answer), but their outputs are not
compared (a student copy stores none). ``tests/test_student_copies.py`` checks they are
fresh.
"""

import os

import pytest

TEST_FEED = "replay"


def pytest_collection_modifyitems(items):
    for item in items:
        if "unsolved" in item.path.parts and item.path.suffix == ".ipynb" and hasattr(item, "options"):
            item.options["check"] = False  # run every cell, compare no output


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    starts_kernel = item.path.suffix == ".ipynb" and getattr(item.parent, "kernel", True) is None
    if not starts_kernel:
        yield
        return
    saved = os.environ.get("JARVIS_FEED")
    os.environ["JARVIS_FEED"] = TEST_FEED
    try:
        yield  # nbval starts the kernel here; it inherits this environment
    finally:
        if saved is None:
            os.environ.pop("JARVIS_FEED", None)
        else:
            os.environ["JARVIS_FEED"] = saved
