"""The SMA crossover strategy, in two forms with the same semantics.

``signal`` is 1 while SMA(short) is above SMA(long) by more than ``1e-9 * SMA(long)``
(so a flat market, where both are equal, is no signal whatever the summation order),
else 0, and 0 while either average is still undefined. ``entry/exit`` is the change of
the signal: +1 buy, -1 sell, 0 nothing.

- ``generate_signals(df)``: vectorised, for notebooks and backtests.
- ``SmaCrossover``: incremental, constant work per tick, for the live loop.

Both compute each average from its own window only (no running total carried from one
tick to the next), so rounding never accumulates: a bot resumed from the store computes
exactly what an uninterrupted one does, and the two forms agree tick for tick.

>>> import pandas as pd
>>> prices = pd.Series([5, 4, 3, 2, 1, 2, 3, 4, 5, 4], dtype=float)
>>> generate_signals(prices, short=2, long=4)["entry/exit"].tolist()
[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
>>> s = SmaCrossover(short=2, long=4)
>>> [s.update(p).entry_exit for p in prices]
[0, 0, 0, 0, 0, 0, 1, 0, 0, 0]
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from math import fsum
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ConfigError

TOLERANCE = 1e-9
"""Relative margin SMA(short) must clear above SMA(long) to count as a signal."""


def check_windows(short, long) -> tuple[int, int]:
    """Validate the two SMA windows: whole numbers, 1 <= short < long.

    >>> check_windows(10, 20)
    (10, 20)
    >>> check_windows(20, 10)
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: short window 20 must be smaller than long window 10 (for example short=10, long=20)
    """
    for label, value in (("short", short), ("long", long)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            if isinstance(value, float) and value.is_integer():
                continue
            raise ConfigError(
                f"{label} window {value!r} is not a whole number: use an integer >= 1 "
                "(for example short=10, long=20)"
            )
        if value < 1:
            raise ConfigError(f"{label} window {value!r} must be at least 1")
    short, long = int(short), int(long)
    if short >= long:
        raise ConfigError(
            f"short window {short} must be smaller than long window {long} "
            "(for example short=10, long=20)"
        )
    return short, long


def signal_from(sma_short, sma_long):
    """The crossover rule on numbers or arrays: 1 above the margin, else 0 (NaN gives 0)."""
    with np.errstate(invalid="ignore"):
        return np.where(sma_short - sma_long > TOLERANCE * np.abs(sma_long), 1.0, 0.0)


def rolling_mean(values, window: int) -> np.ndarray:
    """The mean of each ``window`` consecutive values (NaN until the window is full).

    Each mean is summed from its own window (a convolution), so no error is carried along.

    >>> rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    """
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1:] = np.convolve(values, np.ones(window), "valid") / window
    return out


def generate_signals(prices, short: int = 10, long: int = 20) -> pd.DataFrame:
    """The lesson's signals frame from a price Series or a DataFrame with ``close``.

    Returns a copy with columns ``close``, ``sma{short}``, ``sma{long}``, ``signal`` and
    ``entry/exit``, built with ``.loc``/whole-column assignment (no chained assignment,
    which copy-on-write pandas silently ignores).
    """
    short, long = check_windows(short, long)
    if isinstance(prices, pd.Series):
        close = prices.astype(float)
    elif isinstance(prices, pd.DataFrame) and "close" in prices.columns:
        close = prices["close"].astype(float)
    else:
        raise ConfigError("generate_signals needs a Series of prices or a DataFrame with 'close'")
    signals = pd.DataFrame({"close": close}, index=close.index)
    values = close.to_numpy(dtype=float)
    signals[f"sma{short}"] = rolling_mean(values, short)
    signals[f"sma{long}"] = rolling_mean(values, long)
    signals["signal"] = signal_from(
        signals[f"sma{short}"].to_numpy(), signals[f"sma{long}"].to_numpy()
    )
    signals["entry/exit"] = signals["signal"].diff().fillna(0.0)
    return signals


@dataclass(frozen=True, slots=True)
class Decision:
    """What the strategy says after one price."""

    sma_short: float  # NaN until ``short`` prices are in
    sma_long: float  # NaN until ``long`` prices are in
    signal: int  # 1 or 0
    entry_exit: int  # +1 buy, -1 sell, 0 hold


class SmaCrossover:
    """Incremental SMA crossover for the live loop: constant work per tick.

    It keeps only the last ``long`` prices; each tick adds one and drops one, and both
    averages are summed exactly (``math.fsum``) over that fixed window, so the work per
    tick does not grow with the history and no rounding error builds up over a long run.
    A strategy is any object with ``update(price) -> Decision`` and ``reset()``;
    ``warmup`` tells how many past prices it needs to rebuild its state on resume.
    """

    def __init__(self, short: int = 10, long: int = 20):
        self.short, self.long = check_windows(short, long)
        self.warmup = self.long
        self.reset()

    def reset(self) -> None:
        self._window: deque[float] = deque(maxlen=self.long)
        self._signal = 0

    def update(self, price: float) -> Decision:
        window = self._window
        window.append(float(price))
        n = len(window)
        nan = float("nan")
        sma_s = fsum(islice(window, n - self.short, n)) / self.short if n >= self.short else nan
        sma_l = fsum(window) / self.long if n == self.long else nan
        signal = 1 if n == self.long and sma_s - sma_l > TOLERANCE * abs(sma_l) else 0
        entry_exit = signal - self._signal
        self._signal = signal
        return Decision(sma_s, sma_l, signal, entry_exit)
