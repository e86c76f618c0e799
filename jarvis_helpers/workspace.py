"""Where the notebooks keep their demo databases and logs: ONE git-ignored folder.

``demo_file("jarvis_02.sqlite")`` is ``notebooks/data/jarvis_02.sqlite`` whether the
notebook runs from ``notebooks/`` (the solved ones), ``notebooks/unsolved/`` (the
student copies) or the repository root (``panel serve notebooks/04_jarvis_bot.ipynb``),
so the folders students browse hold notebooks only. ``JARVIS_DEMO_DIR`` overrides the
folder. Elsewhere (a notebook copied to another folder) it is ``./data``.

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     os.environ["JARVIS_DEMO_DIR"] = tmp
...     try:
...         demo_file("jarvis_02.sqlite") == Path(tmp) / "jarvis_02.sqlite"
...     finally:
...         del os.environ["JARVIS_DEMO_DIR"]
True
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

FOLDER_NAME = "data"
ENV = "JARVIS_DEMO_DIR"


def demo_folder(cwd: str | os.PathLike | None = None) -> Path:
    """The demo folder for a notebook running in ``cwd`` (default: the current folder), created.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     (Path(tmp) / "notebooks" / "unsolved").mkdir(parents=True)
    ...     a = demo_folder(Path(tmp) / "notebooks" / "unsolved")
    ...     b = demo_folder(Path(tmp) / "notebooks")
    ...     c = demo_folder(tmp)
    ...     a == b == c == Path(tmp) / "notebooks" / "data"
    True
    """
    if os.environ.get(ENV):
        folder = Path(os.environ[ENV]).expanduser()
    else:
        here = Path.cwd() if cwd is None else Path(cwd)
        if here.name == "unsolved":
            base = here.parent  # a student copy: share the solved notebooks' folder
        elif (here / "notebooks" / "unsolved").is_dir():
            base = here / "notebooks"  # the repository root (panel serve notebooks/...)
        else:
            base = here
        folder = base / FOLDER_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def demo_file(name: str) -> Path:
    """The path of a demo database or log called ``name`` inside :func:`demo_folder`."""
    if not name or Path(name).name != name:
        raise ConfigError(f"demo file name {name!r}: give a plain file name such as 'jarvis_02.sqlite'")
    return demo_folder() / name
