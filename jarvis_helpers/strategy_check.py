"""``check_strategy``: the four ways a strategy's backtest can disagree with its live bot,
each found on real bars and told as a sentence naming the bar and the column.

- look-ahead: a row changes when the bars after it are removed (``shift(-1)``, a centred
  window, a whole-history statistic): the backtest saw the future;
- warm-up: a row changes when only ``warmup`` bars precede it (what the live bot hands
  ``rules``): an EMA from the first bar, a cumulative sum...;
- malformed output: missing or non-boolean ``enter``/``exit``, NaN there, a changed index,
  or ``rules`` raising;
- parity: the event-driven Bot replaying the same bars makes other fills than ``backtest``.

Bars are sampled (evenly spaced, the first and last included), not all tested: the report
says which were checked.

>>> report = check_strategy("sma", "replay:BTC/USD")
>>> report.ok, report.problems
(True, [])
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .account import DEFAULT_FEE
from .errors import FeedExhausted
from .feeds import Feed
from .strategy import Strategy, StrategyError, load_strategy, run_rules
from .ticks import Tick

__all__ = ["check_strategy", "StrategyReport"]

RTOL, ATOL = 1e-9, 1e-12
"""Two indicator values agree when within this relative (or absolute) difference."""


@dataclass
class StrategyReport:
    """What ``check_strategy`` found: ``ok``, ``problems`` (sentences) and ``checked``
    (which bars each check looked at)."""

    strategy: Strategy
    bars: int
    problems: list[str] = field(default_factory=list)
    checked: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = (f"{self.strategy.describe()} on {self.bars:,} bars: "
                + ("no problem found" if self.ok else f"{len(self.problems)} problem(s)"))
        lines = [head] + [f"  - {p}" for p in self.problems]
        lines += [f"  checked {k}: {v}" for k, v in self.checked.items()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<StrategyReport {self.strategy.name} ok={self.ok} problems={len(self.problems)}>"

    def _repr_pretty_(self, p, cycle):  # IPython shows the sentences
        p.text(str(self))


def _sample(lo: int, hi: int, k: int) -> list[int]:
    """About ``k`` evenly spaced whole numbers from lo to hi (both included)."""
    if hi < lo:
        return []
    return sorted({int(round(x)) for x in np.linspace(lo, hi, min(k, hi - lo + 1))})


def _fmt(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    value = float(value)
    return "NaN" if math.isnan(value) else f"{value:.10g}"


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: do two columns disagree (booleans exactly, floats beyond RTOL)?"""
    if a.dtype == bool or b.dtype == bool:
        return a.astype(bool) != b.astype(bool)
    a, b = a.astype(float), b.astype(float)
    with np.errstate(invalid="ignore"):
        close = np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
    return ~close


def _row_diffs(full: pd.DataFrame, part: pd.DataFrame, rows_full, rows_part) -> list[tuple]:
    """[(column, position in full, full value, part value)] for the rows given."""
    out = []
    for col in full.columns:
        a = full[col].to_numpy()[rows_full]
        b = part[col].to_numpy()[rows_part] if col in part.columns else np.full(len(a), np.nan)
        bad = np.flatnonzero(_differs(a, b))
        if len(bad):
            k = bad[0]
            out.append((col, int(np.asarray(rows_full)[k]), a[k], b[k]))
    return out


def check_strategy(strategy, data="replay:BTC/USD", *, params=None, samples: int = 40,
                   parity_bars: int | None = None, cash=10_000, fee=DEFAULT_FEE) -> StrategyReport:
    """Check ``strategy`` (a Strategy, a name, ``"file.py:Class"`` or a class, with
    ``params``) on ``data`` (anything ``backtest`` takes; default the shipped sample).

    ``samples``: how many bars the look-ahead and warm-up checks test; ``parity_bars``:
    how many of the last bars the Bot replays (default: 3,000 with a fast path, else 800).
    Returns a ``StrategyReport``: ``.ok``, ``.problems``, ``.checked``.
    """
    from .backtest import candles_from

    strat = load_strategy(strategy, params)
    candles, _ = candles_from(data)
    n = len(candles)
    report = StrategyReport(strat, n)
    warmup = max(1, int(strat.warmup))
    before = candles.copy()
    try:
        full = run_rules(strat, candles)
    except StrategyError as exc:
        report.problems.append(f"malformed output: {exc}")
        return report
    changed = [c for c in candles.columns
               if not before[c].equals(candles[c])]
    if changed:
        report.problems.append(
            f"rules changed the candles it was given (column {changed[0]!r}): work on a copy "
            "(candles.copy()) or on new Series")
        candles = before

    _look_ahead(strat, candles, full, warmup, samples, report)
    if report.ok:
        _warm_up(strat, candles, full, warmup, samples, report)
    if report.ok:
        _parity(strat, candles, parity_bars, cash, fee, report)
    return report


def _look_ahead(strat, candles, full, warmup, samples, report) -> None:
    n = len(candles)
    cuts = sorted({1, 2, min(warmup, n), *_sample(min(warmup + 1, n), n - 1, samples // 2)})
    cuts = [c for c in cuts if 1 <= c < n]
    report.checked["look-ahead"] = f"the rows before {len(cuts)} cut points (bars {_span(cuts)})"
    found: dict[str, tuple] = {}
    for cut in cuts:
        try:
            part = run_rules(strat, candles.iloc[:cut])
        except StrategyError as exc:
            report.problems.append(f"malformed output on the first {cut} bars: {exc}")
            return
        rows = np.arange(max(0, cut - 2 * warmup - 2), cut)  # the rows a cut can change
        for col, at, whole, cut_value in _row_diffs(full, part, rows, rows):
            if col not in found or at < found[col][0]:
                found[col] = (at, whole, cut_value, cut)
    for col, (at, whole, cut_value, cut) in found.items():
        report.problems.append(
            f"look-ahead: {col!r} at bar {at} ({candles.index[at]}) is {_fmt(whole)} with the "
            f"whole history but {_fmt(cut_value)} when the bars after bar {cut - 1} "
            f"({candles.index[cut - 1]}) are removed: rules uses later bars (a shift(-1), a "
            "centred window, a statistic of the whole history?)")


def _last_rows(strat, candles, bars, depth) -> pd.DataFrame | None:
    """The last row of rules over the ``depth`` bars ending at each of ``bars``."""
    rows = []
    for i in bars:
        part = run_rules(strat, candles.iloc[max(0, i - depth + 1): i + 1])
        rows.append(part.iloc[-1])
    return pd.DataFrame(rows)


def _warm_up(strat, candles, full, warmup, samples, report) -> None:
    n = len(candles)
    bars = _sample(warmup, n - 1, samples)
    if not bars:
        report.checked["warm-up"] = f"nothing: fewer bars ({n}) than the warm-up ({warmup})"
        return
    report.checked["warm-up"] = f"{len(bars)} bars from {bars[0]} to {bars[-1]}"
    try:
        short = _last_rows(strat, candles, bars, warmup)
    except StrategyError as exc:
        report.problems.append(f"malformed output on {warmup} bars (what the live bot gives "
                               f"rules): {exc}")
        return
    diffs = _row_diffs(full, short, np.asarray(bars), np.arange(len(bars)))
    if not diffs:
        return
    col, at, whole, part = diffs[0]
    others = [d[0] for d in diffs[1:]]
    moved = ""
    if full[col].dtype != bool:
        a, b = float(whole), float(part)
        moved = (f" (off by {abs(a - b):.3g}, {abs(a - b) / abs(a):.2g} of its value)"
                 if math.isfinite(a) and math.isfinite(b) and a else "")
    need = _needed_warmup(strat, candles, full, warmup, bars)
    fix = (f"a warm-up of {need} bars would fix it (warmup = {need})" if need
           else f"no warm-up up to {n // 2} bars fixes it: the rows depend on the whole history "
                "(a cumulative sum, an expanding mean, an ewm started at the first bar): "
                "compute it over a finite window")
    report.problems.append(
        f"warm-up: with only the last {warmup} bars (what the live bot hands rules), {col!r} at "
        f"bar {at} ({candles.index[at]}) is {_fmt(part)} instead of {_fmt(whole)}{moved}"
        + (f"; {', '.join(map(repr, others))} differ too" if others else "")
        + f": {fix}")


def _needed_warmup(strat, candles, full, warmup, bars) -> int | None:
    """A warm-up with which every sampled row agrees: the smallest found (to about 5 %),
    plus a quarter for the bars not sampled; None when even half the history is not enough."""
    n = len(candles)
    probe = bars

    def agrees(depth: int) -> bool:
        test = [i for i in probe if i >= depth] or [n - 1]
        rows = _last_rows(strat, candles, test, depth)
        return not _row_diffs(full, rows, np.asarray(test), np.arange(len(test)))

    low, high = warmup, warmup * 2
    while not agrees(high):
        low, high = high, high * 2
        if high > n // 2:
            return None
    while high - low > max(1, low // 20):
        mid = (low + high) // 2
        if agrees(mid):
            high = mid
        else:
            low = mid
    return int(math.ceil(high * 1.25))


class _CandleFeed(Feed):
    """The candles as ticks (open high low close volume), for the parity replay."""

    durable = True

    def __init__(self, candles: pd.DataFrame, symbol: str = "CHECK/USD"):
        self.symbol, self.spec = symbol, "check"
        self._times = candles.index
        self._rows = candles[["open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
        self._pos = 0

    def start_after(self, timestamp) -> None:
        self._pos = int(self._times.searchsorted(timestamp, side="right"))

    async def fetch(self) -> Tick:
        if self._pos >= len(self._rows):
            raise FeedExhausted("all candles replayed")
        o, h, lo, c, v = self._rows[self._pos]
        ts = self._times[self._pos]
        self._pos += 1
        return Tick(self.symbol, ts, c, o, h, lo, None if math.isnan(v) else v)


def _parity(strat, candles, parity_bars, cash, fee, report) -> None:
    from .backtest import _run
    from .bot import Bot
    from .store import Store

    if parity_bars is None:
        parity_bars = 3000 if strat.incremental() is not None else 800
    part = candles.iloc[-int(parity_bars):] if parity_bars < len(candles) else candles
    start = len(candles) - len(part)
    report.checked["parity"] = (f"the Bot replaying bars {start} to {len(candles) - 1} "
                                f"({len(part):,} bars) against backtest on the same bars")
    expected = _run(strat, part, float(cash), float(fee), None).fills
    store = Store("sqlite://")
    try:
        bot = Bot(_CandleFeed(part), store, strategy=strat, cash=cash, fee=fee, interval=0,
                  name="check")
        try:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop running here: run one
                asyncio.run(bot.run())
            else:  # called from a running loop (a notebook cell): a fresh loop in a thread
                with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
                    pool.submit(asyncio.run, bot.run()).result()
        except StrategyError as exc:
            report.problems.append(f"parity: the Bot stopped: {exc}")
            return
        got = store.trades_frame("check")
    finally:
        store.close()
    n = min(len(got), len(expected))
    for k in range(n):
        g, e = got.iloc[k], expected.iloc[k]
        if (got.index[k] != expected.index[k] or g["side"] != e["side"]
                or not math.isclose(g["units"], e["units"], rel_tol=1e-9)):
            report.problems.append(
                f"parity: fill {k + 1} differs: the Bot made {g['side']} {g['units']:.8g} at "
                f"{got.index[k]} ({g['price']:g}), backtest {e['side']} {e['units']:.8g} at "
                f"{expected.index[k]} ({e['price']:g})")
            return
    if len(got) != len(expected):
        more, what = (got, "the Bot") if len(got) > len(expected) else (expected, "backtest")
        report.problems.append(
            f"parity: the Bot made {len(got)} fills, backtest {len(expected)}; {what}'s next is "
            f"{more['side'].iloc[n]} at {more.index[n]}")
    report.checked["parity"] += f": {len(expected)} fills each"


def _span(values) -> str:
    return f"{values[0]} to {values[-1]}" if values else "none"
