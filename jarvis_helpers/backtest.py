"""Backtest any Strategy on recorded candles, vectorised, with the live bot's semantics.

The same rules as ``Bot`` (DESIGN.md): the strategy's ``rules`` over the whole history,
the one position rule (``strategy.positions``), a fill at the close of the bar where the
position changes, all cash in on a buy (fee included), the whole position out on a sell,
a fee on every fill (``account.fill``, the one fill rule). Only the loop is gone: every
fill is computed at once with numpy. The default strategy is the lesson's SMA 10/20.

>>> r = backtest(load_sample("BTC/USD"), short=10, long=20, cash=10_000, fee=0.0026)
>>> r.stats["n_fills"], round(r.stats["final_equity"], 2), round(r.stats["buy_hold_return"], 4)
(1015, 3232.17, 0.6219)
>>> list(r.trades.columns[:4])
['entry_time', 'entry_price', 'exit_time', 'exit_price']
>>> table = sweep(load_sample(), shorts=[5, 10], longs=[20, 50])
>>> table[["short", "long", "n_trades"]].values.tolist()
[[5, 20, 577], [5, 50, 310], [10, 20, 508], [10, 50, 254]]
>>> r = backtest(load_sample(), "rsi", params={"period": 14})
>>> r.strategy, r.stats["n_trades"] > 0
(Rsi(period=14, lower=30.0, upper=70.0), True)
"""

from __future__ import annotations

import itertools
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .account import DEFAULT_FEE, check_cash, check_fee, fill
from .data import SAMPLES, load_sample, read_prices
from .errors import ConfigError, did_you_mean
from .signals import check_windows
from .strategy import CANDLE_COLUMNS, Strategy, load_strategy, positions, run_rules, strategy_for

__all__ = ["backtest", "sweep", "sweep_heatmap", "BacktestResult", "prices_from", "candles_from"]

YEAR = 365.25 * 24 * 3600.0
"""Seconds in a year: crypto trades around the clock, so a year is every hour of it."""

_PRICES_HELP = (
    "a DataFrame with a 'close' column and a DatetimeIndex (e.g. load_sample()), a price "
    "Series with a DatetimeIndex, a CSV path, or 'replay' / 'replay:BTC/USD' / 'replay:file.csv'"
)


# -- inputs ------------------------------------------------------------------------------
def prices_from(prices) -> tuple[pd.Series, str | None]:
    """Closing prices (float Series, UTC DatetimeIndex) and the symbol if known.

    Accepts what ``backtest`` accepts; validates with ``data.read_prices`` (strictly
    increasing times, finite prices > 0).

    >>> close, symbol = prices_from("replay:ETH/USD")
    >>> symbol, str(close.index.tz), close.name
    ('ETH/USD', 'UTC', 'close')
    >>> prices_from("kraken:BTC/USD")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: cannot backtest on 'kraken:BTC/USD': a backtest needs recorded prices: give a DataFrame with a 'close' column and a DatetimeIndex (e.g. load_sample()), a price Series with a DatetimeIndex, a CSV path, or 'replay' / 'replay:BTC/USD' / 'replay:file.csv'
    """
    frame, symbol = _frame_from(prices)
    close = frame["close"].astype(float)
    close.name = "close"
    return close, symbol


def candles_from(prices) -> tuple[pd.DataFrame, str | None]:
    """Candles (``open high low close volume``, UTC DatetimeIndex) and the symbol if known,
    from anything ``backtest`` accepts. Plain prices become flat bars (open = high = low =
    close, volume NaN), as the live bot sees a ticker price.

    >>> candles, symbol = candles_from("replay:BTC/USD")
    >>> candles.columns.tolist(), symbol
    (['open', 'high', 'low', 'close', 'volume'], 'BTC/USD')
    """
    frame, symbol = _frame_from(prices)
    close = frame["close"].to_numpy(dtype=float)
    columns = {}
    for col in CANDLE_COLUMNS:
        if col in frame.columns:
            values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            if col != "volume":
                values = np.where(np.isfinite(values) & (values > 0), values, close)
        else:
            values = close.copy() if col != "volume" else np.full(len(close), np.nan)
        columns[col] = values
    return pd.DataFrame(columns, index=frame.index), symbol


def _frame_from(prices) -> tuple[pd.DataFrame, str | None]:
    symbol = None
    if isinstance(prices, pd.Series):
        if not isinstance(prices.index, pd.DatetimeIndex):
            raise ConfigError(
                f"the price Series has a {type(prices.index).__name__}: a backtest needs times, "
                f"give {_PRICES_HELP}"
            )
        frame = read_prices(prices.to_frame("close"))
    elif isinstance(prices, pd.DataFrame):
        if "close" not in prices.columns:
            raise ConfigError(
                f"the DataFrame has no 'close' column (found {', '.join(map(repr, prices.columns))}): "
                f"give {_PRICES_HELP}"
            )
        cols = ["close"] + [c for c in ("open", "high", "low", "volume", "timestamp")
                            if c in prices.columns]
        frame = read_prices(prices[cols])
    elif isinstance(prices, (str, Path)):
        text = str(prices).strip()
        kind, _, arg = text.partition(":")
        if text in SAMPLES:
            symbol, frame = text, load_sample(text)
        elif kind.lower() == "replay" and (not arg or arg in SAMPLES):
            symbol = arg or "BTC/USD"
            frame = load_sample(symbol)
        elif kind.lower() == "replay" and Path(arg).exists():
            frame = read_prices(arg)
            symbol = _symbol_of(arg)
        elif kind.lower() == "candles":  # stored by download(): the database of $JARVIS_DB
            from .data import parse_candles_spec, stored_candles

            frame, symbol = read_prices(stored_candles(text)), parse_candles_spec(text)[1]
        elif Path(text).exists():
            frame = read_prices(text)
            symbol = _symbol_of(text)
        elif kind.lower() == "replay":
            raise ConfigError(
                f"cannot backtest on {text!r}: 'replay:' takes a shipped symbol "
                f"({', '.join(SAMPLES)}) or an existing CSV path." + did_you_mean(arg, SAMPLES)
            )
        elif text.lower().endswith((".csv", ".csv.gz", ".txt")):
            raise ConfigError(f"price file {text!r} does not exist: give a CSV path")
        else:
            raise ConfigError(
                f"cannot backtest on {text!r}: a backtest needs recorded prices: give {_PRICES_HELP}"
            )
    else:
        raise ConfigError(f"cannot backtest on a {type(prices).__name__}: give {_PRICES_HELP}")
    return frame, symbol


def _symbol_of(path) -> str | None:
    stem = Path(str(path)).name.upper()
    for sym, fname in SAMPLES.items():
        if stem.startswith(fname.split("_")[0]):
            return sym
    return None


# -- the simulation ----------------------------------------------------------------------
def _simulate(close: np.ndarray, signal: np.ndarray, change: np.ndarray, cash: float,
              fee: float) -> dict:
    """Every fill at once. ``change`` is entry/exit: +1 buy, -1 sell at that bar's close.

    Signals alternate 0 -> 1 -> 0, so fills alternate buy, sell, buy... starting with a
    buy, exactly as ``PaperAccount.fill`` acts on them in the live loop. Each closed round
    trip multiplies the cash by a growth factor; the fill rule applied to one unit of cash
    gives that factor, a cumulative product gives the cash before every buy, and the fill
    rule applied to those gives units, fees and the cash after every sell.
    """
    buys = np.flatnonzero(change > 0)
    sells = np.flatnonzero(change < 0)
    n, m = len(buys), len(sells)
    entry, exit_ = close[buys], close[sells]
    one_unit, _, _, _ = fill("buy", 1.0, 0.0, entry[:m], fee)
    _, _, growth, _ = fill("sell", 0.0, one_unit, exit_, fee)
    cash_levels = cash * np.concatenate(([1.0], np.cumprod(growth)))  # cash while flat
    cash_before = cash_levels[:n]
    units, buy_fee, _, _ = fill("buy", cash_before, 0.0, entry, fee)
    _, sell_fee, cash_after, _ = fill("sell", 0.0, units[:m], exit_, fee)
    cash_levels[1:] = cash_after  # the rule's own result for each sell
    # Equity per bar: units x close while in the market, else the cash after the last sell.
    holding = signal > 0
    if n:
        k = np.cumsum(change > 0)  # buys so far; while flat, as many sells
        equity = np.where(holding, units[np.maximum(k - 1, 0)] * close,
                          cash_levels[np.minimum(k, m)])
    else:
        equity = np.full(len(close), cash)
    return {"buys": buys, "sells": sells, "units": units, "buy_fee": np.asarray(buy_fee, float),
            "sell_fee": np.asarray(sell_fee, float), "cash_before": cash_before,
            "cash_after": np.asarray(cash_after, float), "equity": equity, "holding": holding}


def _stats(times: np.ndarray, close: np.ndarray, sim: dict, cash: float, fee: float) -> dict:
    """Figures of one simulation as plain floats/ints/ISO strings (None when undefined)."""
    equity = sim["equity"]
    n_bars = len(equity)
    final = float(equity[-1])
    span = (times[-1] - times[0]) / 1e9
    years = span / YEAR
    growth = final / cash
    cagr = None
    if years > 0 and growth > 0:
        try:
            cagr = math.exp(math.log(growth) / years) - 1.0
        except OverflowError:  # a few minutes of data "annualised"
            cagr = None
    volatility = sharpe = None
    if n_bars > 2:
        rets = equity[1:] / equity[:-1] - 1.0
        step = float(np.median(np.diff(times))) / 1e9
        per_year = YEAR / step
        sd = float(rets.std(ddof=1))
        volatility = sd * math.sqrt(per_year)
        sharpe = float(rets.mean()) / sd * math.sqrt(per_year) if sd > 0 else None
    peak = np.maximum.accumulate(equity)
    drawdown = equity / peak - 1.0
    trough = int(np.argmin(drawdown))
    max_dd = float(drawdown[trough])
    dd_start = dd_end = None
    if max_dd < 0:
        start = int(np.flatnonzero(equity[: trough + 1] == peak[trough])[-1])
        dd_start, dd_end = _iso(times[start]), _iso(times[trough])
    buys, sells = sim["buys"], sim["sells"]
    pnl_closed = sim["cash_after"] - sim["cash_before"][: len(sells)]
    units_bh, _, _, _ = fill("buy", cash, 0.0, float(close[0]), fee)
    fees_paid = float(sim["buy_fee"].sum() + sim["sell_fee"].sum())
    return {
        "start": _iso(times[0]),
        "end": _iso(times[-1]),
        "bars": int(n_bars),
        "cash": float(cash),
        "fee": float(fee),
        "final_equity": final,
        "total_return": growth - 1.0,
        "cagr": _num(cagr),
        "volatility": _num(volatility),
        "sharpe": _num(sharpe),
        "max_drawdown": max_dd,
        "max_drawdown_start": dd_start,
        "max_drawdown_end": dd_end,
        "n_trades": int(len(buys)),
        "n_closed": int(len(sells)),
        "n_fills": int(len(buys) + len(sells)),
        "win_rate": float((pnl_closed > 0).mean()) if len(sells) else None,
        "fees_paid": fees_paid,
        "exposure": float(sim["holding"].mean()),
        "buy_hold_return": float(units_bh * close[-1] / cash - 1.0),
    }


def _num(value) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _iso(ns) -> str:
    return pd.Timestamp(int(ns), tz="UTC").isoformat()


# -- the result ----------------------------------------------------------------------------
@dataclass
class BacktestResult:
    """What a backtest gives back.

    - ``trades``: one row per round trip (entry/exit time and price, units, fees, pnl,
      return, bars held, status 'closed' or 'open'; an open last position has no exit and
      its pnl is marked to the last close, so ``trades.pnl.sum() == final_equity - cash``).
    - ``fills``: one row per fill, like the bot's ledger (side, price, units, fee, cash,
      position), indexed by UTC time.
    - ``equity``: cash plus position at every bar's close (UTC index); ``buy_hold``: the
      same for buying once at the first close; ``drawdown``: equity below its running peak.
    - ``signals``: the frame the trades came from: ``close``, the strategy's indicator
      columns, ``signal`` (the position after each bar, 1 long / 0 flat) and
      ``entry/exit`` (+1 buy, -1 sell); for the SMA, exactly ``generate_signals``' frame.
      ``rules``: the strategy's own output (indicators, ``enter``, ``exit``).
    - ``stats``: plain numbers for ``json.dumps`` (None where a figure is undefined).
    - ``strategy``: the Strategy; ``short``/``long``: the SMA's windows (None otherwise).
    """

    symbol: str | None
    short: int | None
    long: int | None
    cash: float
    fee: float
    signals: pd.DataFrame
    trades: pd.DataFrame
    fills: pd.DataFrame
    equity: pd.Series
    buy_hold: pd.Series
    stats: dict = field(default_factory=dict)
    strategy: Strategy | None = None
    rules: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        """``SMA 10/20`` for the lesson's strategy, else ``rsi(period=14, ...)``."""
        if self.short is not None:
            return f"SMA {self.short}/{self.long}"
        s = self.strategy
        return f"{s.name}({', '.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in s.params.items())})"

    @property
    def drawdown(self) -> pd.Series:
        dd = self.equity / self.equity.cummax() - 1.0
        dd.name = "drawdown"
        return dd

    def __repr__(self) -> str:
        s = self.stats
        return (f"<BacktestResult {self.symbol or 'prices'} {self.label}: "
                f"{s['n_trades']} trades, total return {s['total_return']:+.2%}, "
                f"final equity {s['final_equity']:,.2f}>")

    def report(self) -> str:
        """A short text summary for people (the CLI prints it)."""
        s = self.stats

        def pct(v):
            return "n/a" if v is None else f"{v:+.2%}"

        def num(v):
            return "n/a" if v is None else f"{v:.2f}"

        dd_when = (f" ({s['max_drawdown_start'][:10]} to {s['max_drawdown_end'][:10]})"
                   if s["max_drawdown_start"] else "")
        win = "n/a" if s["win_rate"] is None else f"{s['win_rate']:.1%}"
        open_note = " (last one still open)" if s["n_trades"] > s["n_closed"] else ""
        lines = [
            f"Backtest {self.symbol or 'prices'}: {self.label}, fee {self.fee:.2%} "
            f"per fill, {s['bars']:,} bars from {s['start'][:10]} to {s['end'][:10]}",
            f"  final equity   {s['final_equity']:,.2f} (from {s['cash']:,.2f})",
            f"  total return   {pct(s['total_return'])}   buy & hold {pct(s['buy_hold_return'])}",
            f"  CAGR           {pct(s['cagr'])}   volatility {num(s['volatility'])}   "
            f"Sharpe {num(s['sharpe'])}",
            f"  max drawdown   {pct(s['max_drawdown'])}{dd_when}",
            f"  trades         {s['n_trades']} round trips{open_note}, win rate {win}, "
            f"fees paid {s['fees_paid']:,.2f}",
            f"  exposure       {s['exposure']:.1%} of the time in the market",
        ]
        return "\n".join(lines)

    # -- plots (hvplot; in a notebook run hv.extension("bokeh", inline=True) first) ------
    def plot_equity(self, **opts):
        """Equity of the strategy against buying and holding, as an hvplot line chart."""
        frame = pd.DataFrame({"strategy": self.equity, "buy & hold": self.buy_hold})
        defaults = dict(title=f"Equity: {self.label} vs buy & hold",
                        ylabel="equity", xlabel="", height=300, responsive=True,
                        grid=True, legend="top_left", group_label="")
        return _hvplot(frame).line(**{**defaults, **opts})

    def plot_drawdown(self, **opts):
        """How far equity sits below its running peak, as a filled area."""
        defaults = dict(title="Drawdown", ylabel="drawdown", xlabel="", height=200,
                        responsive=True, color="crimson", alpha=0.5, grid=True)
        return _hvplot(self.drawdown).area(**{**defaults, **opts})

    def plot_trades(self, **opts):
        """The close with the strategy's overlay columns (the SMAs) and buy (green ▲) /
        sell (red ▼) markers. ``xlim=(start, end)`` zooms in, with the y range of what it shows."""
        xlim = opts.pop("xlim", None)
        sig = self.signals
        overlay = [c for c in (self.strategy.overlay if self.strategy else ()) if c in sig.columns]
        defaults = dict(height=350, responsive=True, xlabel="", ylabel="price", grid=True,
                        title=f"{self.symbol or 'prices'}: trades of {self.label}")
        lines = _hvplot(sig[["close", *overlay]]).line(
            group_label="", **{**defaults, **opts})
        fills = self.fills
        buys = fills[fills["side"] == "buy"]["price"].rename("buy")
        sells = fills[fills["side"] == "sell"]["price"].rename("sell")
        marks = dict(size=80, xlabel="", ylabel="price", height=defaults["height"], responsive=True)
        plot = (lines
                * _hvplot(buys).scatter(marker="triangle", color="green", label="buy", **marks)
                * _hvplot(sells).scatter(marker="inverted_triangle", color="red", label="sell",
                                       **marks))
        if xlim is not None:  # the y range of the prices shown (not 3,000-14,000 for all)
            shown = sig[["close", *overlay]].loc[xlim[0]:xlim[1]]
            low, high = shown.min().min(), shown.max().max()
            pad = (high - low) * 0.05 if low < high else 1.0
            plot = plot.opts(xlim=xlim, ylim=opts.get("ylim") or (low - pad, high + pad))
        return plot

    def plot_indicators(self, **opts):
        """The indicator columns not drawn over the price (an RSI), or None when none."""
        names = [c for c in self.indicator_columns if c not in self.strategy.overlay]
        if not names:
            return None
        defaults = dict(height=200, responsive=True, xlabel="", grid=True, group_label="",
                        title=f"{self.label}: {', '.join(names)}")
        return _hvplot(self.signals[names]).line(**{**defaults, **opts})

    @property
    def indicator_columns(self) -> list[str]:
        return [c for c in self.signals.columns if c not in ("close", "signal", "entry/exit")]

    def plot(self):
        """Equity, drawdown, trades (and the indicators below the price), stacked."""
        layout = self.plot_equity() + self.plot_drawdown() + self.plot_trades()
        below = self.plot_indicators()
        return (layout + below if below is not None else layout).cols(1)


def _hvplot(data):
    """hvplot's plotter for a frame, without ``import hvplot.pandas``: that import loads the
    notebook extension from a CDN (blank plots offline), and hvplot re-runs it in every
    cell that imports it, so the package never does."""
    from hvplot import hvPlotTabular

    return hvPlotTabular(data)


# -- the public functions ------------------------------------------------------------------
def backtest(prices, strategy=None, long=None, cash=10_000, fee=DEFAULT_FEE, *, short=None,
             params=None, symbol: str | None = None) -> BacktestResult:
    """Backtest a strategy on ``prices`` with the bot's rules.

    ``prices``: a DataFrame with ``close`` (and ``open high low volume`` if known) and a
    DatetimeIndex (``load_sample()``), a Series, a CSV path, or ``"replay:BTC/USD"``.
    ``strategy``: a Strategy, a name (``"rsi"``), ``"path/file.py:Class"``, a class, or None
    for the lesson's SMA; ``params``: its parameters; ``short``/``long``: the SMA's windows
    (``backtest(prices, 10, 20)`` still means SMA 10/20). ``cash``: starting cash; ``fee``:
    rate per fill (0.0026 = 0.26 %). ``symbol``: a label for reports and plots (found by
    itself for a spec or a Kraken file name). Returns a ``BacktestResult``.

    >>> hours = pd.date_range("2020-01-01", periods=12, freq="h", tz="UTC")
    >>> prices = pd.Series([5, 4, 3, 2, 1, 2, 3, 4, 5, 6, 5, 4], index=hours, dtype=float)
    >>> r = backtest(prices, short=2, long=4, cash=90, fee=0)
    >>> r.trades[["entry_price", "exit_price", "units", "pnl"]].values.tolist()
    [[3.0, 4.0, 30.0, 30.0]]
    >>> r.equity.tolist()[5:]
    [90.0, 90.0, 120.0, 150.0, 180.0, 150.0, 120.0]
    >>> backtest(load_sample(), short=20, long=10)
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: short window 20 must be smaller than long window 10 (for example short=10, long=20)
    """
    if isinstance(strategy, (int, float, np.integer)) and not isinstance(strategy, bool):
        strategy, short = None, strategy  # backtest(prices, 10, 20): the SMA's windows
    strat = strategy_for(strategy, params, short=short, long=long)
    cash, fee = check_cash(cash), check_fee(fee)
    candles, found = candles_from(prices)
    symbol = symbol if symbol is not None else found
    return _run(strat, candles, cash, fee, symbol)


def _positions(strat: Strategy, candles: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rules = run_rules(strat, candles)
    signal = positions(rules["enter"].to_numpy(), rules["exit"].to_numpy())
    change = np.diff(signal, prepend=0.0)
    return rules, signal, change


def _run(strat: Strategy, candles: pd.DataFrame, cash: float, fee: float,
         symbol: str | None) -> BacktestResult:
    rules, signal, change = _positions(strat, candles)
    values = candles["close"].to_numpy(dtype=float)
    sim = _simulate(values, signal, change, cash, fee)
    index = candles.index
    times = index.asi8
    stats = _stats(times, values, sim, cash, fee)
    is_sma = strat.name == "sma" and hasattr(strat, "short")
    short, long = (strat.short, strat.long) if is_sma else (None, None)
    stats.update(symbol=symbol, strategy=strat.name, params=strat.params)
    if is_sma:
        stats.update(short=short, long=long)
    signals = pd.DataFrame({"close": values}, index=index)
    for col in rules.columns:
        if col not in ("enter", "exit"):
            signals[col] = rules[col].to_numpy()
    signals["signal"] = signal
    signals["entry/exit"] = change
    equity = pd.Series(sim["equity"], index=index, name="equity")
    units_bh, _, _, _ = fill("buy", cash, 0.0, float(values[0]), fee)
    buy_hold = pd.Series(units_bh * values, index=index, name="buy & hold")
    return BacktestResult(symbol, short, long, cash, fee, signals, _trades_frame(index, values, sim),
                          _fills_frame(index, values, sim), equity, buy_hold, stats, strat, rules)


def _trades_frame(index: pd.DatetimeIndex, close: np.ndarray, sim: dict) -> pd.DataFrame:
    buys, sells = sim["buys"], sim["sells"]
    n, m = len(buys), len(sells)
    exit_idx = np.concatenate([sells, np.full(n - m, len(close) - 1)]).astype(np.int64)
    exit_time = pd.DatetimeIndex(index[exit_idx]) if n else index[:0]
    exit_price = close[exit_idx] if n else np.empty(0)
    sell_fee = np.concatenate([sim["sell_fee"], np.zeros(n - m)])
    # closed: cash after the sell; open: the position marked to the last close
    value = np.concatenate([sim["cash_after"], sim["units"][m:] * close[-1]])
    pnl = value - sim["cash_before"]
    closed = np.arange(n) < m
    frame = pd.DataFrame({
        "entry_time": index[buys],
        "entry_price": close[buys],
        "exit_time": exit_time.where(closed, pd.NaT) if n else exit_time,
        "exit_price": np.where(closed, exit_price, np.nan),
        "units": sim["units"],
        "entry_fee": sim["buy_fee"],
        "exit_fee": sell_fee,
        "fees": sim["buy_fee"] + sell_fee,
        "pnl": pnl,
        "return": pnl / sim["cash_before"],
        "bars": exit_idx - buys,
        "status": np.where(closed, "closed", "open"),
    })
    return frame


def _fills_frame(index: pd.DatetimeIndex, close: np.ndarray, sim: dict) -> pd.DataFrame:
    buys, sells = sim["buys"], sim["sells"]
    n, m = len(buys), len(sells)
    at = np.empty(n + m, dtype=np.int64)
    at[0::2], at[1::2] = buys, sells
    units = np.empty(n + m)
    units[0::2], units[1::2] = sim["units"], sim["units"][:m]
    fees = np.empty(n + m)
    fees[0::2], fees[1::2] = sim["buy_fee"], sim["sell_fee"]
    cash = np.zeros(n + m)
    cash[1::2] = sim["cash_after"]
    side = np.where(np.arange(n + m) % 2 == 0, "buy", "sell")
    return pd.DataFrame(
        {"side": side, "price": close[at], "units": units, "fee": fees, "cash": cash,
         "position": np.where(side == "buy", units, 0.0)},
        index=pd.DatetimeIndex(index[at], name="timestamp"),
    )


def sweep(prices, strategy=None, grid=None, cash=10_000, fee=DEFAULT_FEE, *, shorts=None,
          longs=None, client=None) -> pd.DataFrame:
    """Backtest every combination of a strategy's parameters: one tidy row per combination.

    ``strategy``: a Strategy class, a name (``"rsi"``), ``"file.py:Class"`` or an instance
    (its parameters are the base the grid changes); ``grid``: ``{"period": range(5, 30),
    "lower": [20, 30]}``. Combinations the strategy refuses (an SMA whose short window is
    not below its long one) are left out. Columns: the grid's parameters, then the figures
    of ``stats`` (total_return, sharpe, max_drawdown, n_trades...). ``sweep(prices, shorts,
    longs)`` is the SMA's sweep, as before. ``client``: a ``dask.distributed.Client`` (or
    the scheduler address in ``JARVIS_DASK_SCHEDULER``) spreads the grid over a cluster;
    the table is the same.

    >>> table = sweep(load_sample(), "rsi", grid={"period": [7, 14], "lower": [25, 30]})
    >>> table[["period", "lower", "n_trades"]].values.tolist()
    [[7, 25, 494], [7, 30, 587], [14, 25, 146], [14, 30, 185]]
    >>> sweep(load_sample(), shorts=[30], longs=[10])
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: no (short, long) pair with short < long in shorts [30] and longs [10]: for example shorts=range(5, 50, 5), longs=range(20, 200, 10)
    """
    cash, fee = check_cash(cash), check_fee(fee)
    legacy = shorts is not None or longs is not None or not (
        strategy is None or isinstance(strategy, (str, Path, Strategy))
        or (isinstance(strategy, type) and issubclass(strategy, Strategy)))
    if legacy:  # sweep(prices, shorts, longs): the SMA's windows
        if shorts is None and longs is None:
            shorts, longs = strategy, grid
        shorts = _windows(shorts if shorts is not None else [10], "shorts")
        longs = _windows(longs if longs is not None else [20], "longs")
        pairs = [check_windows(s, lo) for s in shorts for lo in longs if s < lo]
        if not pairs:
            raise ConfigError(
                f"no (short, long) pair with short < long in shorts {shorts} and longs {longs}: "
                "for example shorts=range(5, 50, 5), longs=range(20, 200, 10)"
            )
        base, combos = load_strategy("sma"), [{"short": s, "long": lo} for s, lo in pairs]
        keys = ["short", "long"]
    else:
        base = load_strategy(strategy)
        keys, combos = _combinations(base, grid)
    candles, _ = candles_from(prices)
    cls, fixed = type(base), base.params
    client, own = _dask_client(client)
    try:
        if client is None:
            rows = _sweep_rows(candles, cls, fixed, combos, cash, fee)
        else:
            rows = _sweep_on(client, candles, cls, fixed, combos, cash, fee)
    finally:
        if own:
            client.close()
    table = pd.DataFrame([{**combo, **stats} for combo, stats, _ in rows if stats is not None])
    if table.empty:
        errors = [err for _, _, err in rows if err]
        raise ConfigError(f"no combination of the grid is a valid {base.name}: {errors[0]}"
                          if errors else f"the grid gives no combination of {base.name}")
    table.attrs.update(strategy=base.name, params=keys)
    return table


def _combinations(base: Strategy, grid) -> tuple[list[str], list[dict]]:
    if grid is None or (isinstance(grid, dict) and not grid):
        return [], [{}]
    if not isinstance(grid, dict):
        raise ConfigError(f"grid {grid!r} is not a dict: give {{parameter: values}}, e.g. "
                          "{'period': range(5, 30)}")
    accepted = list(base.params)
    values = {}
    for key, options in grid.items():
        if key not in accepted:
            raise ConfigError(
                f"{base.name} has no parameter {key!r} to sweep: its parameters are "
                f"{', '.join(accepted) or 'none'}." + did_you_mean(key, accepted))
        if isinstance(options, (str, bytes)) or not hasattr(options, "__iter__"):
            options = [options]
        options = list(options)
        if not options:
            raise ConfigError(f"grid {key!r} is empty: give at least one value")
        values[key] = options
    keys = list(values)
    return keys, [dict(zip(keys, combo)) for combo in itertools.product(*values.values())]


def _sweep_rows(candles, cls, fixed, combos, cash, fee) -> list[tuple]:
    """``(combination, stats, error)`` per combination (stats None when the strategy
    refused it): the work of one process, or of one Dask task."""
    from .strategies_lib import shared_indicators

    values = candles["close"].to_numpy(dtype=float)
    times = candles.index.asi8
    rows = []
    with shared_indicators():
        for combo in combos:
            try:
                strat = cls(**{**fixed, **combo})
            except ConfigError as exc:
                rows.append((combo, None, str(exc)))
                continue
            _, signal, change = _positions(strat, candles)
            sim = _simulate(values, signal, change, cash, fee)
            rows.append((combo, _stats(times, values, sim, cash, fee), None))
    return rows


def _dask_client(client):
    """``(client, created_here)``: the given client, one for $JARVIS_DASK_SCHEDULER, or None."""
    if client is not None:
        return client, False
    address = os.environ.get("JARVIS_DASK_SCHEDULER", "").strip()
    if not address:
        return None, False
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(f"JARVIS_DASK_SCHEDULER={address!r} needs dask.distributed: "
                          "pip install distributed (or unset the variable)") from None
    try:
        return Client(address, timeout=10), True
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at JARVIS_DASK_SCHEDULER={address!r}: "
                          f"{exc} (start one with `dask scheduler`, or unset the variable)") from None


def _sweep_on(client, candles, cls, fixed, combos, cash, fee) -> list[tuple]:
    """The same rows, computed in chunks on a Dask cluster (the candles sent once)."""
    module = sys.modules.get(cls.__module__)
    if module is not None and cls.__module__.startswith("jarvis_user_"):
        import cloudpickle  # a strategy loaded from a file: workers cannot import it by name

        cloudpickle.register_pickle_by_value(module)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    n_chunks = min(len(combos), 2 * workers)
    # contiguous chunks: neighbouring combinations share indicators (computed once per chunk)
    bounds = np.linspace(0, len(combos), n_chunks + 1).round().astype(int)
    chunks = [combos[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    shared = client.scatter(candles, broadcast=True)
    futures = [client.submit(_sweep_rows, shared, cls, fixed, chunk, cash, fee, pure=False)
               for chunk in chunks]
    results = client.gather(futures)
    # contiguous chunks in order, gathered in order: the rows are already in combos' order
    return [row for result in results for row in result]


def _windows(values, label: str) -> list[int]:
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        values = [values]
    try:
        items = list(values)
    except TypeError:
        raise ConfigError(
            f"{label} {values!r} is not a list of windows: give whole numbers, e.g. range(5, 50, 5)"
        ) from None
    if not items:
        raise ConfigError(f"{label} is empty: give at least one window, e.g. range(5, 50, 5)")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or v != int(v) or v < 1:
            raise ConfigError(
                f"{label} holds {v!r}: windows are whole numbers >= 1, e.g. range(5, 50, 5)"
            )
        out.append(int(v))
    return out


def sweep_heatmap(table: pd.DataFrame, metric: str = "total_return", x: str | None = None,
                  y: str | None = None, **opts):
    """A heatmap of one ``sweep`` figure over two of the swept parameters (``x``, ``y``;
    by default the last two of the grid: for the SMA, long across and short up). With more
    than two parameters swept, each cell shows the best value over the others.

    >>> sweep_heatmap(pd.DataFrame({"short": [5], "long": [20], "sharpe": [1.0]}), "shrpe")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: metric 'shrpe' is not a column of the sweep table: choose one of sharpe. Did you mean: sharpe?
    """
    params = list(table.attrs.get("params") or [c for c in ("short", "long") if c in table.columns])
    choices = [c for c in table.columns if c not in params and c not in ("short", "long")
               and pd.api.types.is_numeric_dtype(table[c])]
    if metric not in choices:
        raise ConfigError(
            f"metric {metric!r} is not a column of the sweep table: choose one of "
            f"{', '.join(choices)}." + did_you_mean(metric, choices)
        )
    if x is None or y is None:
        if len(params) < 2:
            raise ConfigError(f"a heatmap needs two swept parameters (this sweep has "
                              f"{', '.join(params) or 'none'}): sweep a grid of two or more")
        x = x or next(p for p in reversed(params) if p != y)
        y = y or next(p for p in reversed(params) if p != x)
    for axis in (x, y):
        if axis not in table.columns:
            raise ConfigError(f"{axis!r} is not a column of the sweep table: choose two of "
                              f"{', '.join(params)}." + did_you_mean(axis, params))
    data = table[[x, y, metric]]
    if data.duplicated([x, y]).any():  # more parameters than the two axes: best of the rest
        data = data.groupby([x, y], as_index=False)[metric].max()
    values = data[metric].astype(float)
    span = float(np.nanmax(np.abs(values))) if values.notna().any() else 1.0
    centred = bool((values < 0).any() and (values > 0).any())  # white = 0 when both signs
    sma = {x, y} == {"short", "long"}
    defaults = dict(x=x, y=y, C=metric, cmap="RdYlGn", colorbar=True, height=350,
                    width=500, title=f"{metric} by {'SMA windows' if sma else f'{y} and {x}'}",
                    xlabel=f"{x} window" if sma else x, ylabel=f"{y} window" if sma else y,
                    tools=["hover"])
    if centred:
        defaults["clim"] = (-span, span)
    return _hvplot(data).heatmap(**{**defaults, **opts})
