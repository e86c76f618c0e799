"""Time jarvis_helpers.backtest side by side with vectorbt and backtesting.py.

    .venv/bin/pip install -e '.[bench]'     # vectorbt, backtesting (benchmarks only)
    .venv/bin/python benchmarks/bench_backtest.py [--bars 1000000] [--repeat 5]

Every library runs the same strategy (SMA 10/20 crossover, all-in long, whole position out,
0.26 % fee per fill, fills at the signal bar's close) on the same prices, in one process,
one after the other. Warm-up runs are excluded from the timings; vectorbt's first call
(numba compiling or loading its cache) is timed and reported separately. Times are the best
of ``--repeat`` runs ("full": from the price frame to trades, equity curve and the headline
figures total return, Sharpe, max drawdown, number of trades).
A missing library is reported as such; the other rows still run.

Then the strategies: ``backtest`` of each shipped strategy (sma, ema, rsi, bollinger) on the
same bars, ``check_strategy`` of each on the hourly sample (target < 5 s), and the 20x20 SMA
sweep locally (target < 1 s) and on a 2-worker Dask ``LocalCluster`` (same table).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars

import numpy as np
import pandas as pd

from jarvis_helpers import backtest, check_strategy, load_sample, strategies
from jarvis_helpers.backtest import sweep
from jarvis_helpers.signals import generate_signals

SHORT, LONG, CASH, FEE = 10, 20, 10_000.0, 0.0026


def synthetic(bars: int, seed: int = 7) -> pd.DataFrame:
    """A seeded geometric random walk of hourly candles (open = high = low = close)."""
    rng = np.random.default_rng(seed)
    close = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, bars)))
    index = pd.date_range("1990-01-01", periods=bars, freq="h", tz="UTC", name="timestamp")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                         "volume": 1.0}, index=index)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


# -- jarvis ------------------------------------------------------------------------------
def run_jarvis(df, fee):
    r = backtest(df, SHORT, LONG, CASH, fee)
    return r.stats["final_equity"], r.stats["n_fills"]


# -- vectorbt ------------------------------------------------------------------------------
def vbt_signals(df):
    """Entries/exits with the project's semantics (the same fills as jarvis)."""
    sig = generate_signals(df, SHORT, LONG)["entry/exit"].to_numpy()
    return sig > 0, sig < 0


def naive_close(df) -> pd.Series:
    """vectorbt's best case: a tz-naive index (with pandas 3 a UTC index makes it ~10-20x
    slower here), still in UTC."""
    close = df["close"].copy()
    close.index = close.index.tz_localize(None)
    return close


def run_vectorbt_full(vbt, df, fee):
    close = naive_close(df)
    fast = vbt.MA.run(close, SHORT)
    slow = vbt.MA.run(close, LONG)
    entries, exits = fast.ma_crossed_above(slow), fast.ma_crossed_below(slow)
    pf = vbt.Portfolio.from_signals(close, entries, exits, init_cash=CASH, fees=fee,
                                    size=np.inf, freq="1h")
    figures = (pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count())
    return float(pf.value().iloc[-1]), figures


def jarvis_sim_inputs(df):
    """The signal arrays jarvis' simulation takes (what vectorbt gets as entries/exits)."""
    signals = generate_signals(df, SHORT, LONG)
    return (signals["close"].to_numpy(), signals["signal"].to_numpy(),
            signals["entry/exit"].to_numpy())


def run_jarvis_sim(values, signal, change, fee):
    from jarvis_helpers.backtest import _simulate  # the private core of backtest()

    sim = _simulate(values, signal, change, CASH, fee)
    return float(sim["equity"][-1])


def run_vectorbt_sim(vbt, close, entries, exits, fee):
    pf = vbt.Portfolio.from_signals(close, entries, exits, init_cash=CASH, fees=fee,
                                    size=np.inf, freq="1h")
    return float(pf.final_value()), int(pf.orders.count())


# -- backtesting.py ------------------------------------------------------------------------
def backtesting_runner(df, fee):
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, SHORT)
            self.slow = self.I(sma, self.data.Close, LONG)

        def next(self):
            if crossover(self.fast, self.slow):
                self.buy()
            elif crossover(self.slow, self.fast):
                self.position.close()

    data = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    data.index = data.index.tz_localize(None)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bt = FractionalBacktest(data, SmaCross, cash=CASH, commission=fee,
                                    trade_on_close=True, finalize_trades=False)
            stats = bt.run()
        return float(stats["Equity Final [$]"]), int(stats["# Trades"])

    return run


def dask_rows(sample, shorts, longs, local_table, label) -> list:
    """The same 20x20 sweep on a 2-worker LocalCluster (processes), against the local run."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        return [(label, "sweep on a 2-worker LocalCluster", float("nan"), f"skipped: {exc}")]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        sweep(sample, shorts[:2], longs[:2], fee=FEE, client=client)  # workers import, warm up
        secs, table = best(lambda: sweep(sample, shorts=shorts, longs=longs, fee=FEE, client=client), 3)
    same = "same table" if table.equals(local_table) else "DIFFERENT table"
    return [(label, "jarvis sweep 20x20 on a 2-worker LocalCluster", secs,
             f"{same} as the local run (the grid is small: the cluster is for grids that "
             "outgrow one machine)")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bt-bars", type=int, default=None,
                    help="bars for backtesting.py (default: --bars; it is a slow event loop)")
    args = ap.parse_args(argv)

    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} cpus")
    # name -> (prices, fee). The synthetic walk trades ~27k round trips per million bars: at
    # 0.26 % a fill that shrinks 10,000 to dust (1e-58) and vectorbt stops trading it, so
    # there the fee is 0 and the final equities stay comparable.
    datasets = {f"synthetic {args.bars:,} bars, fee 0": (synthetic(args.bars), 0.0),
                f"Kraken BTC/USD hourly ({len(load_sample()):,} bars), fee {FEE:.2%}":
                    (load_sample(), FEE)}
    rows = []  # (dataset, library, seconds, note)

    try:
        import vectorbt as vbt
        vbt_version = vbt.__version__
    except Exception as exc:  # noqa: BLE001 - report whatever stops it importing
        vbt, vbt_version = None, None
        print(f"vectorbt unavailable here ({type(exc).__name__}: {exc}); its rows are skipped")
    try:
        import backtesting
        bt_version = backtesting.__version__
    except Exception as exc:  # noqa: BLE001
        backtesting, bt_version = None, None
        print(f"backtesting.py unavailable here ({type(exc).__name__}: {exc}); its rows are skipped")

    compile_note = ""
    if vbt is not None:
        tiny = synthetic(500)
        t0 = time.perf_counter()
        run_vectorbt_full(vbt, tiny, FEE)
        compile_note = (f"vectorbt {vbt_version} first call (numba compile / cache load, excluded "
                        f"below): {time.perf_counter() - t0:.2f} s")

    for name, (df, fee) in datasets.items():
        run_jarvis(df, fee)  # warm-up
        secs, (eq, fills) = best(lambda: run_jarvis(df, fee), args.repeat)
        rows.append((name, "jarvis backtest (full)", secs, f"final equity {eq:,.2f}, {fills} fills"))
        inputs = jarvis_sim_inputs(df)
        run_jarvis_sim(*inputs, fee)
        secs, eq_j = best(lambda: run_jarvis_sim(*inputs, fee), args.repeat)
        rows.append((name, "jarvis simulation only (signals given)", secs,
                     f"final equity {eq_j:,.2f}"))
        if vbt is not None:
            run_vectorbt_full(vbt, df, fee)
            secs, (eq_v, _) = best(lambda: run_vectorbt_full(vbt, df, fee), args.repeat)
            rows.append((name, f"vectorbt {vbt_version} MA.run + from_signals + stats", secs,
                         f"final equity {eq_v:,.2f} (its own crossed_above signals)"))
            entries, exits = vbt_signals(df)
            close = naive_close(df)
            run_vectorbt_sim(vbt, close, entries, exits, fee)
            secs, (eq_s, orders) = best(
                lambda: run_vectorbt_sim(vbt, close, entries, exits, fee), args.repeat)
            agree = "agrees" if math.isclose(eq_s, eq, rel_tol=1e-9) else "DIFFERS"
            rows.append((name, f"vectorbt {vbt_version} from_signals only (signals given)", secs,
                         f"final equity {eq_s:,.2f}, {orders} orders: {agree} with jarvis"))
        if backtesting is not None:
            bt_df = df if args.bt_bars is None else df.iloc[: args.bt_bars]
            run = backtesting_runner(bt_df, fee)
            backtesting_runner(bt_df.iloc[:1000], fee)()  # warm-up
            reps = 1 if len(bt_df) > 100_000 else min(args.repeat, 3)
            secs, (eq_b, trades) = best(run, reps)
            label = "" if bt_df is df else f" on {len(bt_df):,} bars"
            rows.append((name, f"backtesting.py {bt_version} FractionalBacktest{label}", secs,
                         f"final equity {eq_b:,.2f}, {trades} trades"))

    sample = load_sample()
    shorts, longs = list(range(2, 42, 2)), list(range(10, 210, 10))
    sweep(sample, shorts[:2], longs[:2], fee=FEE)  # warm-up
    secs, table = best(lambda: sweep(sample, shorts, longs, fee=FEE), min(args.repeat, 3))
    hourly = f"Kraken BTC/USD hourly, fee {FEE:.2%}"
    rows.append((hourly, f"jarvis sweep 20x20 ({len(table)} pairs short<long)", secs,
                 "target < 1 s: " + ("met" if secs < 1 else "MISSED")))
    rows += dask_rows(sample, shorts, longs, table, hourly)
    for name in strategies():
        secs, report = best(lambda: check_strategy(name, sample), 1)
        rows.append((hourly, f"check_strategy({name!r})", secs,
                     ("clean" if report.ok else f"{len(report.problems)} problem(s)")
                     + "; target < 5 s: " + ("met" if secs < 5 else "MISSED")))
    big = f"synthetic {args.bars:,} bars, fee 0"
    df = datasets[big][0]
    for name in strategies():
        backtest(df.iloc[:5000], name)  # warm-up
        secs, r = best(lambda: backtest(df, name, fee=0.0), min(args.repeat, 3))
        rows.append((big, f"jarvis backtest strategy={name!r}", secs,
                     f"{r.stats['n_fills']:,} fills, {args.bars / secs / 1e6:.1f} M bars/s"))
    if vbt is not None:
        pairs = list(zip(table["short"], table["long"]))
        close = naive_close(sample)

        def vbt_sweep():
            fast = vbt.MA.run(close, [p[0] for p in pairs]).ma.to_numpy()
            slow = vbt.MA.run(close, [p[1] for p in pairs]).ma.to_numpy()
            with np.errstate(invalid="ignore"):
                above = fast > slow
            prev = np.vstack([np.zeros((1, above.shape[1]), bool), above[:-1]])
            pf = vbt.Portfolio.from_signals(close.to_numpy()[:, None], above & ~prev, ~above & prev,
                                            init_cash=CASH, fees=FEE, size=np.inf, freq="1h")
            return pf.total_return(), pf.sharpe_ratio(), pf.max_drawdown()

        vbt_sweep()
        secs, _ = best(vbt_sweep, min(args.repeat, 3))
        rows.append((hourly, f"vectorbt {vbt_version} same grid, 2-D from_signals", secs, "for reference"))

    width = max(len(r[1]) for r in rows)
    print()
    if compile_note:
        print(compile_note)
    current = None
    for dataset, lib, secs, note in rows:
        if dataset != current:
            print(f"\n{dataset}")
            current = dataset
        print(f"  {lib:<{width}}  {secs * 1000:10.1f} ms   {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
