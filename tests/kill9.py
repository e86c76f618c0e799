"""kill -9 on a ``jarvis run`` subprocess at a chosen moment (the crash-and-resume tests)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time


def ticks_in(db) -> int:
    """Rows in the SQLite file's jarvis_ticks, read-only (0 while there is no file or table)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM jarvis_ticks").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_9_at(cmd, db, target: int, timeout: float, env=None) -> None:
    """Run ``cmd`` and kill -9 it once ``db`` holds ``target`` ticks (or after ``timeout`` s);
    nothing is done to a process that exited first."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if db.exists() and ticks_in(db) >= target:
            break
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
