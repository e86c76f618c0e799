"""The SMA crossover strategy, in two forms with the same semantics.

``signal`` is 1 while SMA(short) is above SMA(long) by more than ``1e-9 * SMA(long)``
(so a flat market, where both are equal, is no signal whatever the summation order),
else 0, and 0 while either average is still undefined. ``entry/exit`` is the change of
the signal: +1 buy, -1 sell, 0 nothing.

- ``generate_signals(df)``: vectorised, for notebooks and backtests.
- ``SmaCrossover``: incremental, constant work per tick, for the live loop.

Both compute each average from its own window only (no running total carried from one
tick to the next), as ``math.fsum(window) / len(window)``: the exact sum rounded once,
so rounding never accumulates, a bot resumed from the store computes exactly what an
uninterrupted one does, and the two forms agree bit for bit on every CPU.

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
from dataclasses import dataclass
from itertools import islice
from math import fsum

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


_DIGIT_BITS = 26  # a 53-bit significand at any shift covers 3 digits; digit sums fit int64
_DIGIT_MASK = (1 << _DIGIT_BITS) - 1
_PAD = 3  # zero digits below the lowest: rounding always reads 4 digits
_SPARE = 2  # zero digits above the highest: room for the carries of any window sum
_MAX_DIGITS = 16  # a wider exponent span (1e-300 beside 1e9) is summed by math.fsum
_BLOCK = 1 << 14  # windows per block


def rolling_mean(values, window: int) -> np.ndarray:
    """The mean of each ``window`` consecutive values (NaN until the window is full).

    Every mean is exactly ``math.fsum(w) / window`` for its window ``w``: the window's sum
    correctly rounded, then one division. So it is the same, bit for bit, on every CPU
    and equals what ``SmaCrossover`` computes tick by tick. Vectorised: each value is cut
    into exact integer digits at a common scale; prefix sums of the digits give every
    window's exact sum, which is rounded to the nearest float once.

    A window holding NaN, or both +inf and -inf, gives NaN; one holding +inf (-inf) gives
    +inf (-inf); a window whose exact sum is beyond the float range gives +-inf (where
    ``math.fsum`` raises OverflowError).

    >>> rolling_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2).tolist()
    [nan, 1.5, 2.5, 3.5]
    >>> rolling_mean([0.1, 0.2, 0.3], 3)[-1] == fsum([0.1, 0.2, 0.3]) / 3 != (0.1 + 0.2 + 0.3) / 3
    True
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ConfigError(f"window {window!r} must be a whole number >= 1 (for example 20)")
    window = int(window)
    values = np.asarray(values, dtype=float).ravel()
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1:] = _window_sums(values, window) / window
    return out


def _window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """Each window's sum, correctly rounded (``math.fsum``'s result), non-finite as documented."""
    finite = np.isfinite(values)
    clean = np.where(finite, values, 0.0)
    sums = _exact_sums(clean, window)
    if sums is None:  # exponents too far apart for a few digits
        sums = np.array([_fsum(clean[i:i + window]) for i in range(len(values) - window + 1)])
    if not finite.all():
        def count(mask):
            c = np.concatenate(([0], np.cumsum(mask)))
            return c[window:] - c[:-window]
        nan = count(np.isnan(values)) > 0
        pos, neg = count(values == np.inf) > 0, count(values == -np.inf) > 0
        sums[pos] = np.inf
        sums[neg] = -np.inf
        sums[nan | (pos & neg)] = np.nan
    if np.signbit(fsum([-0.0])):  # newer Pythons: a sum of -0.0s is -0.0
        negzero = np.concatenate(([0], np.cumsum((values == 0) & np.signbit(values))))
        sums[negzero[window:] - negzero[:-window] == window] = -0.0
    return sums


def _fsum(window) -> float:
    try:
        return fsum(window)
    except OverflowError:  # a partial sum went beyond the float range: sum quarters
        with np.errstate(over="ignore"):
            return float(np.float64(fsum(x / 4 for x in window)) * 4)


def _significands(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value as ``mant * 2**exp`` with ``mant`` an odd int64 (or 0): exact."""
    frac, exp = np.frexp(values)
    mant = np.ldexp(frac, 53).astype(np.int64)
    low = np.frexp((mant & -mant).astype(float))[1] - 1  # trailing zero bits of mant
    low[mant == 0] = 0
    return mant >> low, exp - 53 + low


def _exact_sums(values: np.ndarray, window: int) -> np.ndarray | None:
    """Correctly rounded window sums of finite values, or None if their exponents span too much.

    Each value is m * 2**e with m an integer of at most 53 bits; with emin the lowest e of
    the data, it is the integer m * 2**(e - emin) times 2**emin, written as 26-bit digits
    (3 per value). Prefix sums of each digit are exact in int64, so are their differences,
    the window sums. After the carries, the top 4 digits hold >= 79 bits and the ones below
    only matter as a sticky bit (rounding to odd), so one float addition rounds the exact
    sum correctly. Work goes block by block so that it stays in the CPU's caches.
    """
    mant, exp = _significands(values)
    nonzero = mant != 0
    if not nonzero.any():
        return np.zeros(len(values) - window + 1)
    emin = int(exp[nonzero].min())
    digits = (int(exp[nonzero].max()) - emin) // _DIGIT_BITS + 3
    if digits > _MAX_DIGITS:
        return None
    sums = np.empty(len(values) - window + 1)
    block = max(_BLOCK, 4 * window)
    for start in range(0, len(sums), block):
        stop = min(start + block, len(sums))
        sums[start:stop] = _block_sums(values[start:stop + window - 1], window, emin, digits)
    tiny = (np.abs(sums) < np.finfo(float).tiny) & (sums != 0)
    for i in np.flatnonzero(tiny):  # subnormal: the scaling would have rounded a second time
        sums[i] = fsum(values[i:i + window])
    return sums


def _block_sums(values, window, emin, digits):
    mant, exp = _significands(values)
    q, r = np.divmod(np.where(mant != 0, exp - emin, 0), _DIGIT_BITS)
    sign, a = np.sign(mant), np.abs(mant)
    p0 = (a & _DIGIT_MASK) << r
    p1 = ((a >> _DIGIT_BITS) & _DIGIT_MASK) << r
    p2 = (a >> (2 * _DIGIT_BITS)) << r
    n = len(values)
    prefix = np.zeros((digits, n + 1), dtype=np.int64)
    flat = prefix.reshape(-1)
    at = q * (n + 1) + np.arange(1, n + 1)
    flat[at] = sign * (p0 & _DIGIT_MASK)
    flat[at + (n + 1)] = sign * ((p0 >> _DIGIT_BITS) + (p1 & _DIGIT_MASK))
    flat[at + 2 * (n + 1)] = sign * ((p1 >> _DIGIT_BITS) + p2)
    np.cumsum(prefix, axis=1, out=prefix)
    rows, m = _PAD + digits + _SPARE, n - window + 1
    d = np.zeros((rows, m), dtype=np.int64)
    np.subtract(prefix[:, window:], prefix[:, :m], out=d[_PAD:_PAD + digits])

    def carry():  # every digit into [0, 2**26) but the top one, which keeps the sign
        for k in range(_PAD, rows - 1):
            d[k + 1] += d[k] >> _DIGIT_BITS
            d[k] &= _DIGIT_MASK

    carry()
    negative = d[-1] < 0
    if negative.any():
        d[:, negative] *= -1
        carry()
    t = np.full(m, _PAD)  # the highest non-zero digit
    for k in range(_PAD + 1, rows):
        t[d[k] != 0] = k
    below = np.zeros(m, dtype=bool)  # any non-zero digit under the 4 that are kept
    for k in range(_PAD, rows - 4):
        below |= (d[k] != 0) & (k < t - 3)
    at = t * m + np.arange(m)
    flat = d.reshape(-1)
    hi = (flat[at] << _DIGIT_BITS) | flat[at - m]
    lo = (flat[at - 2 * m] << _DIGIT_BITS) | flat[at - 3 * m] | below  # round to odd
    sums = hi.astype(float) * 2.0**52 + lo.astype(float)  # the one rounding
    sums = np.ldexp(sums, _DIGIT_BITS * (t - 3 - _PAD) + emin)
    sums[negative] *= -1
    return sums


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
