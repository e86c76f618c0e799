"""The Tick: one observed price of one symbol at one moment, validated once.

>>> t = Tick("BTC/USD", "2020-01-01T00:00Z", 7200.5)
>>> t.timestamp.isoformat(), t.close
('2020-01-01T00:00:00+00:00', 7200.5)
>>> Tick("BTC/USD", "2020-01-01T00:00Z", float("nan"))
Traceback (most recent call last):
...
jarvis_helpers.errors.BadTick: bad price nan for BTC/USD: a price must be a finite number > 0
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd

from .errors import BadTick, ConfigError

_SYMBOL = re.compile(r"^[A-Za-z0-9.\-_]{1,20}/[A-Za-z0-9.\-_]{1,20}(:[A-Za-z0-9.\-_]{1,20})?$")


def check_symbol(symbol) -> str:
    """Return the symbol if it looks like ``BASE/QUOTE`` (ccxt's unified form), else raise.

    >>> check_symbol("ETH/USD")
    'ETH/USD'
    >>> check_symbol("BTCUSD")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: bad symbol 'BTCUSD': use ccxt's unified form BASE/QUOTE, for example 'BTC/USD'
    """
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise ConfigError(
            f"bad symbol {symbol!r}: use ccxt's unified form BASE/QUOTE, for example 'BTC/USD'"
        )
    return symbol


def to_utc(value) -> pd.Timestamp:
    """A tz-aware UTC Timestamp from a Timestamp, datetime, ISO string or epoch milliseconds.

    Naive times are taken as UTC.

    >>> to_utc(1577836800000).isoformat()
    '2020-01-01T00:00:00+00:00'
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadTick(f"bad timestamp {value!r}: expected epoch milliseconds")
        ts = pd.Timestamp(int(value), unit="ms", tz="UTC")
    else:
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise BadTick(f"bad timestamp {value!r}: expected a time ({exc})") from None
        if ts is pd.NaT or pd.isna(ts):
            raise BadTick(f"bad timestamp {value!r}: a tick needs a time")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts


@dataclass(frozen=True, slots=True)
class Tick:
    """One price: ``symbol`` (BASE/QUOTE), ``timestamp`` (tz-aware UTC) and ``close`` (float > 0).

    A closed candle is a Tick too: ``open``, ``high``, ``low`` and ``volume`` are given, and
    ``timestamp`` is the candle's open time. For a plain price they default to the price
    (``volume`` NaN), so every Tick is a bar a strategy can read.

    >>> t = Tick("BTC/USD", "2020-01-01T00:00Z", 7200.5)
    >>> t.open == t.high == t.low == t.close, t.volume
    (True, nan)
    """

    symbol: str
    timestamp: pd.Timestamp
    close: float
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: float | None = None

    def __post_init__(self):
        if not isinstance(self.timestamp, pd.Timestamp) or self.timestamp.tzinfo is None or str(
            self.timestamp.tzinfo
        ) != "UTC":
            object.__setattr__(self, "timestamp", to_utc(self.timestamp))
        try:
            close = float(self.close)
        except (TypeError, ValueError):
            raise BadTick(
                f"bad price {self.close!r} for {self.symbol}: a price must be a finite number > 0"
            ) from None
        if not (math.isfinite(close) and close > 0):
            raise BadTick(
                f"bad price {close!r} for {self.symbol}: a price must be a finite number > 0"
            )
        object.__setattr__(self, "close", close)
        for name in ("open", "high", "low"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, close)
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                value = math.nan
            if not (math.isfinite(value) and value > 0):
                raise BadTick(
                    f"bad {name} price {getattr(self, name)!r} for {self.symbol}: a price must be "
                    "a finite number > 0"
                )
            object.__setattr__(self, name, value)
        volume = self.volume
        try:
            volume = math.nan if volume is None else float(volume)
        except (TypeError, ValueError):
            raise BadTick(f"bad volume {self.volume!r} for {self.symbol}: give a number >= 0") from None
        if volume < 0 or math.isinf(volume):
            raise BadTick(f"bad volume {self.volume!r} for {self.symbol}: give a number >= 0")
        object.__setattr__(self, "volume", volume)

    @classmethod
    def trusted(cls, symbol: str, timestamp: pd.Timestamp, close: float, open: float,
                high: float, low: float, volume: float) -> Tick:
        """A Tick from values already checked (a replay checks its whole history once, then
        builds one Tick per row without checking each again): floats, a UTC Timestamp.

        >>> t = Tick.trusted("BTC/USD", pd.Timestamp(0, tz="UTC"), 2.0, 1.0, 2.5, 1.0, 3.0)
        >>> t == Tick("BTC/USD", 0, 2.0, 1.0, 2.5, 1.0, 3.0)
        True
        """
        tick = object.__new__(cls)
        put = object.__setattr__
        put(tick, "symbol", symbol)
        put(tick, "timestamp", timestamp)
        put(tick, "close", close)
        put(tick, "open", open)
        put(tick, "high", high)
        put(tick, "low", low)
        put(tick, "volume", volume)
        return tick

    @property
    def micros(self) -> int:
        """The time as integer microseconds since the epoch (how the Store keys it)."""
        return self.timestamp.value // 1000
