"""The ``jarvis`` command: a JSON summary, clean errors, and kill -9 at any moment loses nothing."""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from jarvis_helpers import Store

JARVIS = [sys.executable, "-m", "jarvis_helpers"]


def jarvis(*args, **kw):
    return subprocess.run([*JARVIS, *args], capture_output=True, text=True, timeout=120, **kw)


def ledger(db):
    store = Store(f"sqlite:///{db}")
    try:
        return [t.as_dict() for t in store.trades("jarvis")], store.count_ticks("jarvis")
    finally:
        store.close()


def test_run_prints_one_json_line_with_the_whole_state(tmp_path):
    db = tmp_path / "r.sqlite"
    first = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "300", "--quiet")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 1
    state = json.loads(lines[0])
    assert list(state) == ["ticks", "trades", "cash", "position", "equity"]
    assert state["ticks"] == 300
    second = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "200", "--quiet")
    assert json.loads(second.stdout)["ticks"] == 500  # the total, not this run
    reset = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "100", "--reset", "--quiet")
    assert json.loads(reset.stdout)["ticks"] == 100


def test_progress_goes_to_stderr(tmp_path):
    out = jarvis("run", "--feed", "random:1", "--db", str(tmp_path / "p.sqlite"), "--ticks", "60000",
                 "--progress", "0.05")
    assert out.returncode == 0
    assert "ticks/s" in out.stderr and "ticks" in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["run", "--cash", "-5"], "cash '-5'"),
    (["run", "--short", "30"], "short window 30 must be smaller than long window 20"),
    (["run", "--feed", "krakn:BTC/USD"], "Did you mean: kraken"),
    (["run", "--ticks", "many"], "'many' is not a whole number"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, needle):
    db = tmp_path / "bad.sqlite"
    out = jarvis(*args, "--db", str(db)) if args[0] == "run" else jarvis(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and needle in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()  # nothing was created or changed


def test_kill_9_at_any_moment_then_resume_equals_an_uninterrupted_run(tmp_path):
    base = ["run", "--feed", "replay:BTC/USD", "--interval", "0", "--quiet"]
    whole_db = tmp_path / "whole.sqlite"
    whole = jarvis(*base, "--db", str(whole_db))
    assert whole.returncode == 0, whole.stderr
    expected_state = json.loads(whole.stdout)
    expected_ledger = ledger(whole_db)
    total = expected_state["ticks"]

    rng = random.Random(20261125)
    killed_mid_run = 0
    for attempt in range(4):
        db = tmp_path / f"killed{attempt}.sqlite"
        for _ in range(1 + attempt % 2):  # one or two kills in a row
            target = rng.randrange(1, total)
            proc = subprocess.Popen([*JARVIS, *base, "--db", str(db)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if db.exists() and _count(db) >= target:
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            proc.stdout.close()
            proc.stderr.close()
            if 0 < _count(db) < total:
                killed_mid_run += 1
        resumed = jarvis(*base, "--db", str(db))
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout) == expected_state
        assert ledger(db) == expected_ledger
    assert killed_mid_run >= 3  # the kills really landed in the middle of runs


def _count(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM jarvis_ticks").fetchone()[0]
    except sqlite3.Error:
        return 0
