"""Crash and restart, beyond the plain kill -9 of ``jarvis run`` (tests/test_cli.py):

- a kill -9 in the middle of a trade's transaction (after its tick's INSERT, before the
  trade's) leaves neither: a tick and the trade it caused are one transaction;
- a truncated or corrupt SQLite file gives a clear error naming the file and what to do,
  and the file is not overwritten;
- a database written by an older layout is refused clearly (never dropped), and the
  lesson's own ``data`` table is kept as it was.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from jarvis_helpers import Bot, Store
from jarvis_helpers.data import load_sample
from jarvis_helpers.errors import StoreError

N = 3000

KILL_AT_TRADE = r"""
import asyncio, os, signal, sys
import sqlalchemy as sa
from jarvis_helpers import Bot, Store
url, target, commit_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = Store(url)
seen = []

@sa.event.listens_for(store.engine, "before_cursor_execute")
def die_inside_the_trade(conn, cursor, statement, parameters, context, executemany):
    if statement.lstrip().upper().startswith("INSERT INTO JARVIS_TRADES"):
        seen.append(statement)
        if len(seen) == target:  # the ticks of this transaction are already INSERTed
            os.kill(os.getpid(), signal.SIGKILL)

bot = Bot("replay", store, name="k", interval=0, commit_every=commit_every)
asyncio.run(bot.run(max_ticks=int(sys.argv[4])))
print("not killed")
"""


@pytest.fixture(scope="module")
def uninterrupted():
    store = Store("sqlite://")
    bot = Bot("replay", store, name="k", interval=0)
    asyncio.run(bot.run(max_ticks=N))
    return bot.summary(), store.trades("k")


@pytest.mark.parametrize("commit_every, target", [(1, 7), (1000, 2)],
                         ids=["commit-per-tick", "grouped-commits"])
def test_kill_9_inside_a_trade_then_resume(store_url, tmp_path, uninterrupted, commit_every, target):
    """Die while writing the target-th INSERT of trades (a batch's, when commits are grouped)."""
    want_summary, want_trades = uninterrupted
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_TRADE, store_url, str(target), str(commit_every), str(N)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr

    store = Store(store_url)
    try:
        trades = store.trades("k")
        ticks = store.recent_ticks(N, bot="k")
        # Neither the trade nor the tick that caused it (nor their batch) survived ...
        assert 0 < len(trades) < len(want_trades) and trades == want_trades[: len(trades)]
        killed_at = want_trades[len(trades)].timestamp
        assert len(ticks) > 0 and ticks.index[-1] < killed_at
        if commit_every == 1:
            assert len(trades) == target - 1
        if commit_every == 1:  # ... and every tick before it did
            times = load_sample("BTC/USD").index
            assert times[len(ticks)] == killed_at
        # ... and what is stored agrees: each stored trade has its tick.
        assert all(t.timestamp in ticks.index for t in trades)

        bot = Bot("replay", store, name="k", interval=0)
        asyncio.run(bot.run(max_ticks=N - len(ticks)))
        assert bot.summary() == want_summary
        assert store.trades("k") == want_trades
        assert store.count_ticks("k") == N
    finally:
        store.close()


# -- damaged SQLite files ----------------------------------------------------------------

def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("healthy") / "history.sqlite"
    store = Store(path)
    asyncio.run(Bot("replay", store, name="k", interval=0).run(max_ticks=12_000))
    store.close()
    return path


def _truncate(path: Path, fraction: float):
    with open(path, "r+b") as fh:
        fh.truncate(int(path.stat().st_size * fraction))


def _scribble(path: Path, at: float, size: int = 8192):
    with open(path, "r+b") as fh:
        fh.seek(int(path.stat().st_size * at) if at < 1 else int(at))
        fh.write(os.urandom(size))


DAMAGE = {
    "truncated to half": lambda p: _truncate(p, 0.5),
    "truncated to its first page": lambda p: _truncate(p, 0.004),
    "schema page scribbled": lambda p: _scribble(p, 100, 3000),
    "data pages scribbled": lambda p: _scribble(p, 0.55, 16384),
    "not a database": lambda p: p.write_text("id,close\n1,7000\n" * 500),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_sqlite_file_is_named_and_left_alone(damage, healthy, tmp_path):
    path = tmp_path / "history.sqlite"
    shutil.copy(healthy, path)
    DAMAGE[damage](path)
    before = _digest(path)

    with pytest.raises(StoreError) as info:
        store = Store(path)  # a damaged data page only shows when it is read: on resume
        try:
            bot = Bot("replay", store, name="k", interval=0)
            asyncio.run(bot.run(max_ticks=10))
            store.recent_ticks(20_000)
        finally:
            store.close()
    message = str(info.value)
    assert str(path.name) in message and "\n" not in message
    assert "move it aside" in message and "another --db" in message
    assert _digest(path) == before  # not overwritten, not "repaired"


def test_damaged_file_through_the_cli(healthy, tmp_path):
    path = tmp_path / "history.sqlite"
    shutil.copy(healthy, path)
    _scribble(path, 0.55, 16384)
    before = _digest(path)
    proc = subprocess.run(
        [sys.executable, "-m", "jarvis_helpers", "run", "--feed", "replay", "--db", str(path),
         "--name", "k", "--ticks", "10", "--quiet"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "damaged" in lines[0], proc.stderr
    assert _digest(path) == before


# -- older layouts ---------------------------------------------------------------------

def test_the_lessons_database_is_kept_and_used_alongside(tmp_path):
    """The lesson wrote ``data`` with pandas (index as text): it stays, row for row."""
    path = tmp_path / "algo_trader_history.sqlite"
    lesson = load_sample("BTC/USD").iloc[:50][["close"]].copy()
    lesson["sma10"] = lesson["close"].rolling(10).mean()
    with sqlite3.connect(path) as db:
        lesson.to_sql("data", db, if_exists="append", index=True)
    rows_before = _rows(path, "data")

    store = Store(path)
    asyncio.run(Bot("replay", store, name="k", interval=0).run(max_ticks=100))
    assert store.count_ticks("k") == 100
    store.close()
    assert _rows(path, "data") == rows_before


def _rows(path, table):
    with sqlite3.connect(path) as db:
        return db.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()


OLD_LAYOUTS = {
    # ticks without a bot column (every bot's ticks in one list)
    "ticks without bot": [
        "CREATE TABLE jarvis_ticks (id INTEGER PRIMARY KEY, symbol TEXT, ts INTEGER, close REAL)",
        "INSERT INTO jarvis_ticks (symbol, ts, close) VALUES ('BTC/USD', 1577836800000000, 7200)",
    ],
    # a trade ledger without fees
    "trades without fee": [
        "CREATE TABLE jarvis_trades (id INTEGER PRIMARY KEY, bot TEXT, symbol TEXT, ts INTEGER, "
        "side TEXT, price REAL, units REAL)",
        "INSERT INTO jarvis_trades (bot, symbol, ts, side, price, units) "
        "VALUES ('jarvis', 'BTC/USD', 1577836800000000, 'buy', 7200, 1.3)",
    ],
}


@pytest.mark.parametrize("layout", list(OLD_LAYOUTS))
def test_an_older_layout_is_refused_and_never_dropped(layout, tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        for statement in OLD_LAYOUTS[layout]:
            db.execute(statement)
    db.close()
    before = _everything(path)
    with pytest.raises(StoreError, match="older layout") as info:
        Store(path)
    assert "old.sqlite" in str(info.value) and "left untouched" in str(info.value)
    assert _everything(path) == before
    proc = subprocess.run(
        [sys.executable, "-m", "jarvis_helpers", "run", "--db", str(path), "--ticks", "5"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "older layout" in proc.stderr
    assert _everything(path) == before


def _everything(path):
    """Every table's definition and rows (opening switches the file to WAL journaling,
    which rewrites two header bytes: the data is what must not change)."""
    with sqlite3.connect(path) as db:
        tables = db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    return tables, {name: _rows(path, name) for name, _ in tables}


def test_a_newer_schema_is_refused(store_url):
    store = Store(store_url)
    import sqlalchemy as sa

    from jarvis_helpers.store import meta_table

    with store.engine.begin() as conn:
        conn.execute(meta_table.update().where(meta_table.c.key == "schema").values(value="99"))
    asyncio.run(Bot("random:1", store, name="n", interval=0).run(max_ticks=10))
    store.close()
    with pytest.raises(StoreError, match="newer jarvis_helpers .*upgrade the package"):
        Store(store_url)
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM jarvis_ticks")).scalar_one() == 10
        assert conn.execute(sa.text("SELECT value FROM jarvis_meta")).scalar_one() == "99"
    engine.dispose()


def test_stored_times_survive_a_restart_exactly(store_url):
    """What a restart reads back is exactly what was written (no text index, no NaT)."""
    store = Store(store_url)
    asyncio.run(Bot("replay", store, name="t", interval=0).run(max_ticks=500))
    store.close()
    store = Store(store_url)
    frame = store.recent_ticks(500, bot="t")
    store.close()
    sample = load_sample("BTC/USD").iloc[:500]
    assert frame.index.equals(pd.DatetimeIndex(sample.index, name="timestamp"))
    assert frame["close"].tolist() == sample["close"].tolist()
