"""The shipped strategies: ``sma`` (the lesson's, the default), ``ema``, ``rsi``, ``bollinger``.

Every indicator here is computed from a finite window of bars (each value from its own
window, nothing carried from further back), so a row depends on the last ``warmup`` bars
only: the live bot, which hands ``rules`` just those bars, and the backtest, which hands it
the whole history, compute the same numbers.

>>> from jarvis_helpers.strategy import synthetic_candles
>>> candles = synthetic_candles(300)
>>> [(name, int(cls().rules(candles)["enter"].sum())) for name, cls in SHIPPED.items()]
[('sma', 83), ('ema', 42), ('rsi', 76), ('bollinger', 26)]
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager
from itertools import islice
from math import fsum

import numpy as np
import pandas as pd

from .errors import ConfigError
from .signals import TOLERANCE, check_windows, rolling_mean, signal_from
from .strategy import Strategy, synthetic_candles  # noqa: F401  (the doctests use it)

_NAN = float("nan")

__all__ = ["Sma", "Ema", "Rsi", "Bollinger", "SHIPPED", "shared_indicators"]

_local = threading.local()


@contextmanager
def shared_indicators():
    """Within this block, an indicator computed on the same close array with the same
    window is computed once (a sweep backtests many combinations on one history)."""
    old = getattr(_local, "memo", None)
    _local.memo = {}
    try:
        yield
    finally:
        _local.memo = old


def _memo(kind: str, close: np.ndarray, key, compute):
    memo = getattr(_local, "memo", None)
    if memo is None:
        return compute()
    ident = (kind, close.__array_interface__["data"][0], len(close), key)
    hit = memo.get(ident)
    if hit is None:  # the array is kept with its result, so its address cannot be reused
        hit = memo[ident] = (close, compute())
    return hit[1]


def _close(candles: pd.DataFrame) -> np.ndarray:
    return candles["close"].to_numpy(dtype=float)


class Sma(Strategy):
    """The lesson's crossover: long while SMA(short) is above SMA(long) by more than
    1e-9 x SMA(long); ``enter`` is that signal, ``exit`` its absence (also while either
    average is undefined). Columns ``sma{short}``, ``sma{long}``, both drawn over the price.

    >>> import pandas as pd
    >>> hours = pd.date_range("2020-01-01", periods=10, freq="h", tz="UTC")
    >>> prices = [5, 4, 3, 2, 1, 2, 3, 4, 5, 4]
    >>> out = Sma(short=2, long=4).rules(pd.DataFrame({"close": prices}, index=hours, dtype=float))
    >>> out.columns.tolist(), out["enter"].tolist()[5:]
    (['sma2', 'sma4', 'enter', 'exit'], [False, True, True, True, True])
    """

    name = "sma"
    short: int = 10
    long: int = 20

    def coerce(self, key, value):  # check_windows says what is wrong, as it always has
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value
            return int(number) if number.is_integer() else number
        return value

    def validate(self) -> None:
        self.short, self.long = check_windows(self.short, self.long)

    @property
    def warmup(self) -> int:
        return self.long

    @property
    def overlay(self) -> tuple:
        return (f"sma{self.short}", f"sma{self.long}")

    def rules(self, candles):
        close = _close(candles)
        fast = _memo("mean", close, self.short, lambda: rolling_mean(close, self.short))
        slow = _memo("mean", close, self.long, lambda: rolling_mean(close, self.long))
        signal = signal_from(fast, slow) > 0
        return pd.DataFrame({f"sma{self.short}": fast, f"sma{self.long}": slow,
                             "enter": signal, "exit": ~signal}, index=candles.index)

    def incremental(self):
        return _SmaFast(self.short, self.long)


class _SmaFast:
    """The live loop's constant-work form of ``Sma.rules`` (the contract test proves it
    gives the same rows): ``SmaCrossover``'s arithmetic (each average ``fsum``-exact over
    its own window, the same margin), without building a Decision per tick."""

    def __init__(self, short: int, long: int):
        self.short, self.long = check_windows(short, long)
        self._names = (f"sma{self.short}", f"sma{self.long}")
        self.reset()

    def reset(self) -> None:
        self._window: deque[float] = deque(maxlen=self.long)

    def update(self, tick):
        window = self._window
        window.append(tick.close)
        n, short, long = len(window), self.short, self.long
        if n < long:
            sma_s = fsum(islice(window, n - short, n)) / short if n >= short else _NAN
            return {self._names[0]: sma_s, self._names[1]: _NAN}, False, True
        sma_s = fsum(islice(window, long - short, long)) / short
        sma_l = fsum(window) / long
        up = sma_s - sma_l > TOLERANCE * abs(sma_l)
        return {self._names[0]: sma_s, self._names[1]: sma_l}, up, not up


def windowed_ema(values, span: int, window: int) -> np.ndarray:
    """The exponential moving average (``alpha = 2 / (span + 1)``) of the last ``window``
    values, weights normalised over the bars present: nothing older than ``window`` bars
    counts, so a value depends on its own window only.

    >>> windowed_ema(np.array([1.0, 2.0, 3.0]), span=3, window=2).round(4).tolist()
    [1.0, 1.6667, 2.6667]
    """
    values = np.asarray(values, dtype=float)
    weights = (1.0 - 2.0 / (span + 1.0)) ** np.arange(window)
    n = len(values)
    if n == 0:
        return values.copy()
    num = np.convolve(values, weights)[:n]
    den = np.cumsum(weights)[np.minimum(np.arange(n), window - 1)]
    return num / den


class Ema(Strategy):
    """EMA crossover: long while EMA(fast) is above EMA(slow) (the SMA's 1e-9 margin),
    ``exit`` otherwise; nothing until ``slow`` bars are in.

    Each EMA is summed over its last ``6 x span`` bars only (the weights left out are
    below 1e-5 of the total, so it equals pandas' ``ewm(span, adjust=False)`` to about five
    digits once warmed up); being finite, it gives the same value however much history
    came before, so the live bot and the backtest agree exactly. ``warmup`` = 6 x slow.

    >>> Ema(fast=12, slow=26).warmup, Ema().overlay
    (156, ('ema12', 'ema26'))
    >>> Ema(fast=30, slow=10)
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: ema: fast 30 must be smaller than slow 10 (for example fast=12, slow=26)
    """

    name = "ema"
    fast: int = 12
    slow: int = 26
    SPANS = 6

    def validate(self) -> None:
        for key in ("fast", "slow"):
            if getattr(self, key) < 1:
                raise ConfigError(f"ema: {key} {getattr(self, key)} must be at least 1")
        if self.fast >= self.slow:
            raise ConfigError(f"ema: fast {self.fast} must be smaller than slow {self.slow} "
                              "(for example fast=12, slow=26)")

    @property
    def warmup(self) -> int:
        return self.SPANS * self.slow

    @property
    def overlay(self) -> tuple:
        return (f"ema{self.fast}", f"ema{self.slow}")

    def rules(self, candles):
        close = _close(candles)
        fast = _memo("ema", close, self.fast,
                     lambda: windowed_ema(close, self.fast, self.SPANS * self.fast)).copy()
        slow = _memo("ema", close, self.slow,
                     lambda: windowed_ema(close, self.slow, self.SPANS * self.slow)).copy()
        slow[: self.slow - 1] = np.nan
        fast[: self.slow - 1] = np.nan
        signal = signal_from(fast, slow) > 0
        return pd.DataFrame({f"ema{self.fast}": fast, f"ema{self.slow}": slow,
                             "enter": signal, "exit": ~signal}, index=candles.index)


class Rsi(Strategy):
    """RSI mean reversion: buy when the RSI falls below ``lower`` (oversold), sell when it
    rises above ``upper`` (overbought). The RSI is Cutler's: average gain and loss over
    the last ``period`` price changes (simple means, a finite window), 100 when nothing
    fell, 50 when nothing moved. ``warmup`` = period + 1. Column ``rsi``, drawn below the
    price.

    >>> import pandas as pd
    >>> hours = pd.date_range("2020-01-01", periods=6, freq="h", tz="UTC")
    >>> out = Rsi(period=2).rules(pd.DataFrame({"close": [10, 11, 12, 11, 10, 12.0]}, index=hours))
    >>> out["rsi"].round(1).tolist(), out["enter"].tolist()
    ([nan, nan, 100.0, 50.0, 0.0, 66.7], [False, False, False, False, True, False])
    """

    name = "rsi"
    period: int = 14
    lower: float = 30.0
    upper: float = 70.0

    def validate(self) -> None:
        if self.period < 1:
            raise ConfigError(f"rsi: period {self.period} must be at least 1 (for example period=14)")
        if not 0 <= self.lower < self.upper <= 100:
            raise ConfigError(f"rsi: give 0 <= lower < upper <= 100 (got lower={self.lower:g}, "
                              f"upper={self.upper:g}; for example lower=30, upper=70)")

    @property
    def warmup(self) -> int:
        return self.period + 1

    def rules(self, candles):
        close = _close(candles)
        rsi = np.full(len(close), np.nan)
        if len(close) > self.period:
            gain, loss = _memo("rsi", close, self.period, lambda: _gain_loss(close, self.period))
            with np.errstate(divide="ignore", invalid="ignore"):
                value = 100.0 - 100.0 / (1.0 + gain / loss)
            value = np.where(loss == 0, np.where(gain == 0, 50.0, 100.0), value)
            value[np.isnan(gain)] = np.nan
            rsi[1:] = value
        with np.errstate(invalid="ignore"):
            enter, exit_ = rsi < self.lower, rsi > self.upper
        return pd.DataFrame({"rsi": rsi, "enter": enter, "exit": exit_}, index=candles.index)


def _gain_loss(close: np.ndarray, period: int):
    change = np.diff(close)
    return (rolling_mean(np.maximum(change, 0.0), period),
            rolling_mean(np.maximum(-change, 0.0), period))


def _mean_sd(close: np.ndarray, period: int):
    n = len(close)
    mid, sd = np.full(n, np.nan), np.full(n, np.nan)
    if n >= period:
        windows = np.lib.stride_tricks.sliding_window_view(close, period)
        mid[period - 1:] = windows.mean(axis=1)
        sd[period - 1:] = windows.std(axis=1)
    return mid, sd


class Bollinger(Strategy):
    """Bollinger band mean reversion: buy when the close falls below the lower band
    (``width`` standard deviations under the ``period``-bar mean), sell when it is back
    above the mean. Columns ``bb_mid``, ``bb_upper``, ``bb_lower``, all over the price.
    ``warmup`` = period.

    >>> out = Bollinger(period=20, width=2).rules(synthetic_candles(60))
    >>> out.columns.tolist(), int(out["enter"].sum()), int(out["exit"].sum())
    (['bb_mid', 'bb_upper', 'bb_lower', 'enter', 'exit'], 4, 11)
    """

    name = "bollinger"
    period: int = 20
    width: float = 2.0
    overlay = ("bb_mid", "bb_upper", "bb_lower")

    def validate(self) -> None:
        if self.period < 2:
            raise ConfigError(f"bollinger: period {self.period} must be at least 2 (for example period=20)")
        if not self.width > 0:
            raise ConfigError(f"bollinger: width {self.width:g} must be > 0 (for example width=2)")

    @property
    def warmup(self) -> int:
        return self.period

    def rules(self, candles):
        close = _close(candles)
        mid, sd = _memo("bollinger", close, self.period, lambda: _mean_sd(close, self.period))
        upper, lower = mid + self.width * sd, mid - self.width * sd
        with np.errstate(invalid="ignore"):
            enter, exit_ = close < lower, close > mid
        return pd.DataFrame({"bb_mid": mid, "bb_upper": upper, "bb_lower": lower,
                             "enter": enter, "exit": exit_}, index=candles.index)


SHIPPED = {"sma": Sma, "ema": Ema, "rsi": Rsi, "bollinger": Bollinger}
