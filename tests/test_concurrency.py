"""Several bots, one database, at the same time: separate processes write one SQLite
file (or one PostgreSQL database), 10,000 ticks each. No "database is locked", every tick
and trade of each bot stored exactly once, each bot's ledger its own.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
import sys
import time

import pytest

from jarvis_helpers import Bot, Store

N = 10_000

# `jarvis run` processes (grouped commits, as the CLI does) ...
CLI_BOTS = [
    ("btc", "replay:BTC/USD", []),
    ("eth", "replay:ETH/USD", []),
    ("rnd", "random:7", ["--short", "5", "--long", "30"]),
]
# ... and bots committing after every single tick (the most write contention there is),
# one of them on exactly the same symbol and timestamps as "rnd", one on the same as "btc".
EAGER_BOTS = [
    ("rnd-twin", "random:7", {}),
    ("btc-eager", "replay:BTC/USD", {"short": 5, "long": 30}),
]
EAGER = """
import asyncio, json, sys
from jarvis_helpers import Bot, Store
name, spec, url, n, kw = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
bot = Bot(spec, Store(url), name=name, interval=0, commit_every=1, **kw)
asyncio.run(bot.run(max_ticks=n))
print(json.dumps(bot.summary()))
"""


@functools.lru_cache(maxsize=None)
def reference(spec: str, n: int, short: int = 10, long: int = 20) -> tuple[dict, list]:
    """The same bot alone, in memory: what each concurrent bot must have stored."""
    store = Store("sqlite://")
    bot = Bot(spec, store, name="ref", interval=0, short=short, long=long)
    asyncio.run(bot.run(max_ticks=n))
    return bot.summary(), store.trades("ref")


@pytest.mark.timeout(240)
def test_bots_in_separate_processes_share_one_database(store_url, tmp_path):
    Store(store_url).close()  # create the tables once, so every bot starts on the same footing
    # A commit per tick waits for PostgreSQL's fsync (~3 ms): fewer ticks for those two there.
    eager_n = N if store_url.startswith("sqlite") else 2_000
    ticks = {name: N for name, _, _ in CLI_BOTS} | {name: eager_n for name, _, _ in EAGER_BOTS}
    env = {**os.environ, "JARVIS_FEED": "", "JARVIS_DB": ""}
    procs = {}
    started = time.monotonic()
    for name, spec, extra in CLI_BOTS:
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "jarvis_helpers", "run", "--feed", spec, "--db", store_url,
             "--ticks", str(N), "--name", name, "--quiet", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    for name, spec, kw in EAGER_BOTS:
        procs[name] = subprocess.Popen(
            [sys.executable, "-c", EAGER, name, spec, store_url, str(eager_n), json.dumps(kw)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    outputs = {name: p.communicate(timeout=200) for name, p in procs.items()}
    elapsed = time.monotonic() - started

    for name, (out, err) in outputs.items():
        assert procs[name].returncode == 0, (name, err[-3000:])
        assert "locked" not in err.lower() and "Traceback" not in err, (name, err[-3000:])

    windows = {name: {"short": int(extra[1]), "long": int(extra[3])} if extra else {}
               for name, _, extra in CLI_BOTS}
    windows.update({name: kw for name, _, kw in EAGER_BOTS})
    specs = {name: spec for name, spec, _ in CLI_BOTS + [(n, s, k) for n, s, k in EAGER_BOTS]}

    store = Store(store_url)
    try:
        assert sorted(store.bots()) == sorted(procs)
        assert store.count_ticks() == sum(ticks.values())
        for name, (out, _) in outputs.items():
            want_summary, want_trades = reference(specs[name], ticks[name], **windows[name])
            summary = json.loads(out.strip().splitlines()[-1])
            assert summary == pytest.approx(want_summary, rel=1e-12), name
            frame = store.recent_ticks(2 * N, bot=name)
            assert len(frame) == ticks[name] == store.count_ticks(name), name
            assert frame.index.is_unique and frame.index.is_monotonic_increasing, name
            assert store.trades(name) == want_trades, name  # the bot's own ledger, exactly
        # The twins share symbol and timestamps, yet each kept its own rows.
        twin = store.recent_ticks(N, bot="rnd-twin")
        rnd = store.recent_ticks(N, bot="rnd").iloc[: len(twin)]
        assert twin.index.equals(rnd.index) and twin["close"].equals(rnd["close"])
        assert store.trades("rnd") != store.trades("rnd-twin")  # other windows, other trades
    finally:
        store.close()
    print(f"{len(procs)} bots, {sum(ticks.values())} ticks on {store_url.split(':')[0]}: {elapsed:.1f}s")
