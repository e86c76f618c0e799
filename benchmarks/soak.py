"""Soak: a million ticks through Bot + SQLite Store; memory must stay flat.

Prints, at 10k, 100k, 250k, 500k and 1M ticks: ticks/s (overall and since the last
checkpoint), resident memory now and at peak, Python heap (tracemalloc) now and at peak,
and the rows in the database, side by side with the baseline: the same feed alone, with no
bot and no database. Ends with FLAT or GROWING (and exit status 1 when growing).

    .venv/bin/python benchmarks/soak.py                  # 1,000,000 ticks, about a minute
    .venv/bin/python benchmarks/soak.py --ticks 200000 --tracemalloc   # + Python heap
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jarvis_helpers import Bot, RandomWalkFeed, Store  # noqa: E402

CHECKPOINTS = [10_000, 100_000, 250_000, 500_000, 1_000_000]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def feed_alone(checkpoints):
    feed = RandomWalkFeed(seed=1)
    done, rows, started = 0, {}, time.perf_counter()
    for target in checkpoints:
        while done < target:
            await feed.fetch()
            done += 1
        rows[target] = done / (time.perf_counter() - started)
    return rows


async def soak(db: Path, checkpoints, use_tracemalloc: bool):
    store = Store(db)
    bot = Bot(RandomWalkFeed(seed=1), store, name="soak", interval=0)
    rows, done = [], 0
    if use_tracemalloc:
        tracemalloc.start()
    started = last_t = time.perf_counter()
    for target in checkpoints:
        done += await bot.run(max_ticks=target - done)
        now = time.perf_counter()
        gc.collect()
        heap, heap_peak = tracemalloc.get_traced_memory() if use_tracemalloc else (0, 0)
        rows.append({
            "ticks": done, "rate": done / (now - started),
            "rate_here": (target - (rows[-1]["ticks"] if rows else 0)) / (now - last_t),
            "rss": rss_mb(), "peak_rss": peak_rss_mb(), "heap": heap / 2**20,
            "heap_peak": heap_peak / 2**20, "stored": store.count_ticks("soak"),
            "trades": bot.account.trades,
            "db_mb": sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 2**20,
        })
        last_t = time.perf_counter()
    await bot.stop()
    store.close()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace the Python heap (about 5x slower: every allocation is traced)")
    args = parser.parse_args(argv)
    checkpoints = [c for c in CHECKPOINTS if c < args.ticks] + [args.ticks]

    print(f"soak: {args.ticks:,} ticks, RandomWalkFeed -> Bot -> SQLite Store (one file, WAL)")
    baseline = asyncio.run(feed_alone(checkpoints))
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(soak(Path(tmp) / "soak.sqlite", checkpoints, args.tracemalloc))

    head = (f"{'ticks':>10} {'bot t/s':>9} {'(here)':>9} {'feed t/s':>9} {'RSS MB':>7} "
            f"{'peak RSS':>8} {'heap MB':>8} {'heap pk':>8} {'stored':>10} {'trades':>7} {'db MB':>7}")
    print(head)
    for r in rows:
        print(f"{r['ticks']:>10,} {r['rate']:>9,.0f} {r['rate_here']:>9,.0f} "
              f"{baseline[r['ticks']]:>9,.0f} {r['rss']:>7.1f} {r['peak_rss']:>8.1f} "
              f"{r['heap']:>8.2f} {r['heap_peak']:>8.2f} {r['stored']:>10,} {r['trades']:>7,} "
              f"{r['db_mb']:>7.1f}")
    assert rows[-1]["stored"] == args.ticks, "every tick must be stored"

    # Flat: from the first checkpoint on, neither RSS nor the Python heap keeps growing
    # (a few MB of SQLite page cache and allocator slack are not growth).
    first = rows[0]
    grew_rss = rows[-1]["rss"] - first["rss"]
    grew_heap = rows[-1]["heap"] - first["heap"]
    flat = grew_rss < 16 and grew_heap < 4
    print(f"memory from {first['ticks']:,} to {rows[-1]['ticks']:,} ticks: RSS {grew_rss:+.1f} MB, "
          f"heap {grew_heap:+.2f} MB -> {'FLAT' if flat else 'GROWING'}")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
