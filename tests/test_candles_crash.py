"""kill -9 on a bot replaying stored candles (``candles:`` spec), then resume: the same
state, ledger and OHLCV bars as an uninterrupted run, and ``verify`` says identical."""

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys

from jarvis_helpers import Store, load_sample
from jarvis_helpers.verify import verify
from tests.kill9 import kill_9_at, ticks_in

JARVIS = [sys.executable, "-m", "jarvis_helpers"]
SPEC = "candles:kraken:BTC/USD@1h"


def _history(path):
    store = Store(path)
    store.write_candles("kraken", "BTC/USD", "1h", load_sample("BTC/USD").iloc[:6000])
    store.close()


def _bars_and_ledger(db):
    with sqlite3.connect(db) as conn:
        bars = conn.execute("SELECT ts, open, high, low, close, volume FROM jarvis_ticks ORDER BY ts").fetchall()
        ledger = conn.execute("SELECT ts, side, price, units, fee FROM jarvis_trades ORDER BY ts").fetchall()
    conn.close()
    return bars, ledger


def test_kill_9_on_stored_candles_then_resume_equals_an_uninterrupted_run(tmp_path):
    history = tmp_path / "history.sqlite"
    _history(history)
    base = ["run", "--feed", SPEC, "--interval", "0", "--quiet", "--strategy", "rsi"]
    whole_db = tmp_path / "whole.sqlite"
    shutil.copy(history, whole_db)
    whole = subprocess.run([*JARVIS, *base, "--db", str(whole_db)], capture_output=True, text=True,
                           timeout=300, env={**os.environ, "JARVIS_DB": str(whole_db)})
    assert whole.returncode == 0, whole.stderr
    expected_state = json.loads(whole.stdout)
    assert expected_state["ticks"] == 6000 and expected_state["trades"] > 10
    expected = _bars_and_ledger(whole_db)
    sample = load_sample("BTC/USD").iloc[:6000]
    assert [row[1:] for row in expected[0]] == [tuple(r) for r in sample.itertuples(index=False)]

    rng = random.Random(20261126)
    killed_mid_run = 0
    for attempt in range(3):
        db = tmp_path / f"killed{attempt}.sqlite"
        shutil.copy(history, db)
        env = {**os.environ, "JARVIS_DB": str(db)}
        for _ in range(2):
            target = rng.randrange(1, 6000)
            kill_9_at([*JARVIS, *base, "--db", str(db)], db, target, 120, env=env)
            if 0 < ticks_in(db) < 6000:
                killed_mid_run += 1
        resumed = subprocess.run([*JARVIS, *base, "--db", str(db)], capture_output=True, text=True,
                                 timeout=300, env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout) == expected_state
        assert _bars_and_ledger(db) == expected
        report = verify(str(db), "jarvis")
        assert report.ok, str(report)
    assert killed_mid_run >= 3
