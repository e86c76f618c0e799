"""The bot with its streaming dashboard vs the lesson's loop with its streaming dashboard.

Both run on the same fast replay of the shipped Kraken sample, in one process, with their
plots live in a Bokeh document (what a browser session holds; no browser needed), and both
persist every tick to SQLite.

- lesson: per tick ``to_sql`` one row, ``read_sql`` the newest 1000 rows back (with ORDER BY,
  so the window does not freeze, and a bound parameter), recompute both rolling means over
  the whole window, trade on ``.iloc[-1]``, then emit the new row and the WHOLE signals frame
  into streamz DataFrames plotted by hvplot (prices, SMAs with buy/sell markers, a table with
  backlog 10), as in the lesson's ``build_dashboard``.
- jarvis: ``Bot`` (incremental SMAs, batched commits) with a ``Dashboard`` attached: the
  listener queues, a timer flushes at most 10 times a second, each update carrying only the
  new rows (at most the backlog) into HoloViews Buffers.

Prints ticks per second for both and the ratio (target >= 50x), then the rows sent to the
plots per update with 100 and with 10,000 ticks of history.

    python benchmarks/bench_dashboard.py [--lesson-ticks 150] [--jarvis-ticks 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jarvis_helpers import Bot, Dashboard, Store, load_sample  # noqa: E402

warnings.filterwarnings("ignore")  # hvplot.streamz deprecation notices: the lesson's API


# -- the lesson's loop ------------------------------------------------------------------
def lesson_generate_signals(df: pd.DataFrame) -> pd.DataFrame:
    """The lesson's generate_signals, with its chained assignment fixed (else no trades)."""
    signals = df.copy()
    signals["index"] = pd.to_datetime(signals["index"])
    signals = signals.set_index("index", drop=True)
    signals["signal"] = 0.0
    signals["sma10"] = signals["close"].rolling(window=10).mean()
    signals["sma20"] = signals["close"].rolling(window=20).mean()
    signals["signal"] = np.where(signals["sma10"] > signals["sma20"], 1.0, 0.0)
    signals.loc[signals.index[:10], "signal"] = 0.0
    signals["entry/exit"] = signals["signal"].diff()
    return signals


def lesson_execute_trade_strategy(signals: pd.DataFrame, account: dict) -> dict:
    """Buy with all cash / sell everything at the last close (the lesson's sizing is
    ``round(balance / close, 0) * 0.001``, which buys 0 units at these prices)."""
    last = signals.iloc[-1]
    if last["entry/exit"] == 1.0 and account["balance"] > 0:
        account["shares"] = account["balance"] / last["close"]
        account["balance"] = 0.0
    elif last["entry/exit"] == -1.0 and account["shares"] > 0:
        account["balance"] = account["shares"] * last["close"]
        account["shares"] = 0.0
    return account


def lesson_build_dashboard(data, signals):
    import panel as pn

    signals_plot = (
        signals[signals["entry/exit"] == 1.0].hvplot.scatter(
            y="sma10", marker="^", size=200, c="g", label="buy", padding=0.1)
        * signals[signals["entry/exit"] == -1.0].hvplot.scatter(
            y="sma10", marker="v", size=200, c="r", label="sell", padding=0.1)
        * signals.hvplot.line(y="sma10", label="sma10")
        * signals.hvplot.line(y="sma20", label="sma20")
    )
    return pn.Column(
        "# JARVIS Algorithmic Trading Dashboard",
        data.hvplot(title="prices"),
        signals_plot.opts(title="signals plot", show_legend=False),
        "### Signals Table",
        signals.hvplot.table(title="signals table", columns=["close", "entry/exit", "sma10", "sma20"],
                             backlog=10),
    )


def run_lesson(prices: pd.DataFrame, n: int, folder: Path) -> dict:
    import hvplot.streamz  # noqa: F401
    from streamz import Stream
    from streamz.dataframe import DataFrame

    db = sqlite3.connect(folder / "lesson.sqlite")
    with db:
        db.execute("DROP TABLE IF EXISTS data")
    account = {"balance": 10_000.0, "shares": 0.0}
    data_stream, signals_stream = Stream(), Stream()
    data_sdf = DataFrame(data_stream, example=pd.DataFrame(
        {"close": []}, columns=["close"], index=pd.DatetimeIndex([])))
    columns = ["close", "signal", "sma10", "sma20", "entry/exit"]
    signals_sdf = DataFrame(signals_stream, example=pd.DataFrame(
        {c: [] for c in columns}, columns=columns, index=pd.DatetimeIndex([])))
    layout = lesson_build_dashboard(data_sdf, signals_sdf)
    layout.get_root()  # the plots are live in a Bokeh document, as in a served session
    rows_emitted = []
    started = time.perf_counter()
    for ts, close in zip(prices.index[:n], prices["close"].to_numpy()[:n]):
        new_df = pd.DataFrame({"close": [float(close)]}, index=[ts.tz_convert(None)])
        new_df.to_sql("data", db, if_exists="append", index=True)
        df = pd.read_sql("select * from (select rowid, * from data order by rowid desc limit ?) "
                         "order by rowid", db, params=(1000,)).drop(columns="rowid")
        if df.shape[0] >= 21:
            signals = lesson_generate_signals(df)
            signals_stream.emit(signals)
            rows_emitted.append(len(signals))
            account = lesson_execute_trade_strategy(signals, account)
        data_stream.emit(new_df)
    elapsed = time.perf_counter() - started
    db.close()
    return {"ticks": n, "seconds": elapsed, "tps": n / elapsed, "rows_emitted": rows_emitted}


# -- jarvis -----------------------------------------------------------------------------
async def _run_jarvis(bot: Bot, dash: Dashboard, n: int) -> float:
    dash.panel().get_root()  # live plots in a Bokeh document; the timer starts on this loop
    started = time.perf_counter()
    await bot.run(max_ticks=n)
    elapsed = time.perf_counter() - started
    dash.flush()
    dash.close()
    return elapsed


def run_jarvis(n: int, folder: Path, name: str = "bench") -> dict:
    bot = Bot("replay", Store(f"sqlite:///{folder / 'jarvis.sqlite'}"), name=name, interval=0)
    dash = Dashboard(bot, backlog=1000, max_fps=10)
    elapsed = asyncio.run(_run_jarvis(bot, dash, n))
    return {"ticks": n, "seconds": elapsed, "tps": n / elapsed, "updates": dash.updates,
            "rows_per_update": list(dash.rows_per_update)}


def rows_per_update(history: int, folder: Path, more: int = 3000, interval: float = 0.001) -> dict:
    """Attach a dashboard to a bot with ``history`` stored ticks, run ``more`` ticks paced at
    ``interval`` seconds, and return what the plots received."""
    url = f"sqlite:///{folder / f'history{history}.sqlite'}"
    asyncio.run(Bot("replay", Store(url), interval=0).run(max_ticks=history))
    bot = Bot("replay", Store(url), interval=interval)
    dash = Dashboard(bot, backlog=1000, max_fps=10)
    first = len(dash.buffers["ticks"].data)  # the history shown once, when attaching
    asyncio.run(_run_jarvis(bot, dash, more))
    rows = list(dash.rows_per_update)
    return {"history_rows": first, "updates": len(rows), "mean": statistics.fmean(rows),
            "max": max(rows)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lesson-ticks", type=int, default=150)
    parser.add_argument("--jarvis-ticks", type=int, default=20_000)
    args = parser.parse_args(argv)
    prices = load_sample("BTC/USD")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lesson = run_lesson(prices, args.lesson_ticks, folder)
        ours = run_jarvis(args.jarvis_ticks, folder)
        ratio = ours["tps"] / lesson["tps"]
        print("ticks per second, fast replay, streaming dashboard live (one run)")
        print(f"  lesson loop + streamz/hvplot dashboard : {lesson['tps']:10,.1f}  "
              f"({lesson['ticks']} ticks in {lesson['seconds']:.1f} s)")
        print(f"  jarvis Bot + Dashboard                 : {ours['tps']:10,.1f}  "
              f"({ours['ticks']} ticks in {ours['seconds']:.1f} s, {ours['updates']} page updates)")
        print(f"  ratio                                  : {ratio:10,.1f}x  (target >= 50x)  "
              f"{'OK' if ratio >= 50 else 'BELOW TARGET'}")
        print()
        print("rows sent to the plots per update (jarvis: 10 updates/s max, backlog 1000, "
              "ticks paced at 1 ms)")
        for history in (100, 10_000):
            r = rows_per_update(history, folder)
            lesson_rows = min(history, 1000)
            print(f"  {history:>6,} ticks of history: jarvis {r['mean']:6.1f} rows/update on average, "
                  f"max {r['max']} ({r['updates']} updates; the history, {r['history_rows']} rows, "
                  f"once on attach) | lesson: {lesson_rows} rows per tick, every tick")
        emitted = lesson["rows_emitted"]
        print(f"  (lesson run above: {statistics.fmean(emitted):.0f} rows per emit on average, "
              f"{sum(emitted):,} rows for {lesson['ticks']} ticks)")
    return 0 if ratio >= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
