"""The candle pipeline: download throughput on recorded pages, and memory while importing
a whole Kraken OHLCVT file, each beside a plain baseline in the same run.

    .venv/bin/python benchmarks/bench_download.py [--repeat 5] [--csv ../shared/data/kraken/XBTUSD_60.csv]

1. Download throughput (rows/s), no network: a real ``ccxt.async_support.kraken`` answering
   from the recorded OHLC and Trades pages (tests/fixtures/kraken), its rate limiter off
   (``enableRateLimit=False``) so the figures exclude the rate-limit sleeps (with Kraken's
   1 s a request, the real download is bound by those). Both paths: 719 candles from one
   OHLC answer, and 11 candles built from 6 pages of trades (6,000 trades). Baseline: the
   same ccxt call and ``pd.DataFrame(rows).to_sql`` into SQLite, what one writes by hand
   (no resume, no de-duplication, the forming candle stored too).
2. Memory while importing the whole OHLCVT file (50,378 hourly rows for XBTUSD_60.csv),
   each in a fresh process: peak RSS and tracemalloc peak of ``import_csv`` (chunks of
   10,000 rows, idempotent inserts) against ``pd.read_csv`` of the whole file followed by
   ``to_sql``; and ``import_csv`` of the same file four times over (201,512 rows, later
   times) to show its peak does not grow with the file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # recorded_exchange (the recorded Kraken)
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "kraken" / "XBTUSD_60.csv"
NOON = "2020-09-30 12:00"


def _exchange():
    from recorded_exchange import RecordedKraken

    return RecordedKraken(config={"enableRateLimit": False})


def bench_jarvis(source: str, repeat: int) -> tuple[float, int]:
    from jarvis_helpers import Store
    from jarvis_helpers.download import download

    best, rows = float("inf"), 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(Path(tmp) / "d.sqlite")
            exchange = _exchange()
            exchange.enableRateLimit = False
            since = NOON if source == "trades" else None
            t = time.perf_counter()
            rows = download(exchange, "BTC/USD", "1h", since=since, store=store, progress=False,
                            source=source)
            best = min(best, time.perf_counter() - t)
            store.close()
    return best, rows


def bench_baseline(source: str, repeat: int) -> tuple[float, int]:
    import pandas as pd
    import sqlalchemy as sa

    async def fetch():
        exchange = _exchange()
        exchange.enableRateLimit = False
        try:
            await exchange.load_markets()
            if source == "ohlcv":
                return await exchange.fetch_ohlcv("BTC/USD", "1h")
            trades, since = [], int(pd.Timestamp(NOON, tz="UTC").value // 10**6)
            params = {}
            while True:
                page = await exchange.fetch_trades("BTC/USD", since=None if params else since,
                                                   params=params)
                if not page:
                    break
                trades += page
                if page[-1]["timestamp"] >= pd.Timestamp("2020-09-30 23:00", tz="UTC").value // 10**6:
                    break
                params = {"since": page[-1]["info"][-1]}
            frame = pd.DataFrame({"t": [x["timestamp"] for x in trades],
                                  "p": [x["price"] for x in trades], "a": [x["amount"] for x in trades]})
            frame.index = pd.to_datetime(frame["t"], unit="ms", utc=True)
            bars = frame["p"].resample("1h").ohlc().join(frame["a"].resample("1h").sum())
            return bars.reset_index().values.tolist()
        finally:
            await exchange.close()

    best, rows = float("inf"), 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            engine = sa.create_engine(f"sqlite:///{tmp}/b.sqlite")
            t = time.perf_counter()
            data = asyncio.run(fetch())
            frame = pd.DataFrame(data, columns=["ts", "open", "high", "low", "close", "volume"])
            rows = frame.to_sql("candles", engine, if_exists="append", index=False)
            best = min(best, time.perf_counter() - t)
            engine.dispose()
    return best, rows


MEMORY_CHILD = r"""
import json, resource, sys, time, tracemalloc
kind, path, db = sys.argv[1], sys.argv[2], sys.argv[3]
import pandas as pd, sqlalchemy as sa
from jarvis_helpers import Store
from jarvis_helpers.download import import_csv
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
t = time.perf_counter()
if kind == "pandas":
    df = pd.read_csv(path, header=None, names=["ts", "open", "high", "low", "close", "volume", "trades"])
    engine = sa.create_engine(f"sqlite:///{db}")
    rows = df.to_sql("candles", engine, index=False)
    engine.dispose()
else:
    store = Store(db)
    rows = import_csv(path, store, symbol="BTC/USD", timeframe="1h")
    store.close()
elapsed = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": elapsed, "traced_mb": peak / 2**20,
                  "rss_mb": rss / 1024, "rss_growth_mb": (rss - base) / 1024}))
"""


def memory(kind: str, path: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, kind, str(path), f"{tmp}/m.sqlite"],
                              capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    args = parser.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")

    print("1. download throughput on recorded pages (best of %d, rate-limit sleeps excluded)" % args.repeat)
    print(f"{'path':<34}{'jarvis download':>22}{'ccxt + to_sql':>22}")
    for source, label in (("ohlcv", "OHLC answer (719 candles)"), ("trades", "trades -> candles (6 pages)")):
        ours, ours_rows = bench_jarvis(source, args.repeat)
        base, base_rows = bench_baseline(source, args.repeat)
        unit = "candles/s"
        print(f"{label:<34}{ours_rows / ours:>12,.0f} {unit:<9}{base_rows / base:>12,.0f} {unit:<9}")
        print(f"{'':<34}{ours * 1e3:>12.1f} ms {ours_rows:>5} rows{base * 1e3:>10.1f} ms {base_rows:>5} rows")
    if source == "trades":
        print(f"{'':<34}trades read per second, jarvis: {6054 / ours:,.0f}")

    if not args.csv.exists():
        print(f"\n2. skipped: {args.csv} not found (give --csv)")
        return
    print(f"\n2. importing {args.csv.name}, each in a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        lines = args.csv.read_text().splitlines()
        first, last = int(lines[0].split(",")[0]), int(lines[-1].split(",")[0])
        span = last - first + 3600
        four = Path(tmp) / "XBTUSD_60_x4.csv"
        with open(four, "w") as fh:
            for k in range(4):
                for line in lines:
                    ts, rest = line.split(",", 1)
                    fh.write(f"{int(ts) + k * span},{rest}\n")
        print(f"{'':<40}{'rows':>9}{'seconds':>9}{'traced peak':>13}{'peak RSS':>10}{'RSS growth':>12}")
        for label, kind, path in (("pandas read_csv + to_sql (whole file)", "pandas", args.csv),
                                  ("jarvis import_csv (chunks of 10,000)", "jarvis", args.csv),
                                  ("jarvis import_csv, the file x4", "jarvis", four)):
            m = memory(kind, path)
            print(f"{label:<40}{m['rows']:>9,}{m['seconds']:>9.2f}{m['traced_mb']:>10.1f} MB"
                  f"{m['rss_mb']:>7.0f} MB{m['rss_growth_mb']:>9.1f} MB")


if __name__ == "__main__":
    main()
