"""Market data: the shipped Kraken sample and CSV files in Kraken's layout (or headed).

>>> df = load_sample("BTC/USD")
>>> list(df.columns), str(df.index.tz), len(df) > 17_000
(['open', 'high', 'low', 'close', 'volume'], 'UTC', True)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, did_you_mean

SAMPLES = {"BTC/USD": "XBTUSD_60.csv.gz", "ETH/USD": "ETHUSD_60.csv.gz"}
"""Symbols of the shipped sample (Kraken hourly candles, 2018-10 to 2020-09) and their files."""

COLUMNS = ["open", "high", "low", "close", "volume"]
_KRAKEN = ["timestamp", "open", "high", "low", "close", "volume", "trades"]


def load_sample(symbol: str = "BTC/USD") -> pd.DataFrame:
    """Real Kraken hourly candles shipped with the package (see ``data/README.md``).

    Returns a DataFrame with a UTC ``DatetimeIndex`` named ``timestamp`` and the columns
    ``open high low close volume``.
    """
    if symbol not in SAMPLES:
        raise ConfigError(
            f"no shipped sample for {symbol!r}: choose one of {', '.join(SAMPLES)}."
            + did_you_mean(symbol, SAMPLES)
        )
    with resources.as_file(resources.files(__package__) / "data" / SAMPLES[symbol]) as path:
        return read_prices(path)


def read_prices(source) -> pd.DataFrame:
    """Read candles or prices from a CSV path (or take a DataFrame) and validate them.

    Accepted: Kraken's OHLCVT layout without a header (timestamp in unix seconds, open,
    high, low, close, volume, trades), or a CSV with a header holding at least
    ``timestamp`` and ``close`` (seconds, milliseconds or ISO times), or a DataFrame with a
    ``close`` column and a DatetimeIndex (or a ``timestamp`` column). Timestamps must be
    strictly increasing and prices finite and > 0: anything else is a ``ConfigError`` that
    names the file, the row and what is accepted.
    """
    name = "DataFrame"
    if isinstance(source, pd.DataFrame):
        df = source.copy()
        if "timestamp" in df.columns:
            df = df.set_index("timestamp")
    else:
        path = Path(source)
        name = str(path)
        if not path.exists():
            raise ConfigError(f"price file {name!r} does not exist: give a CSV path")
        try:
            first = pd.read_csv(path, header=None, nrows=1, dtype=str)
        except pd.errors.EmptyDataError:
            raise ConfigError(
                f"price file {name!r} is empty: expected Kraken OHLCVT rows or a CSV with "
                "'timestamp' and 'close' columns"
            ) from None
        headed = not _is_number(first.iloc[0, 0])
        if headed:
            df = pd.read_csv(path)
            df.columns = [str(c).strip().lower() for c in df.columns]
            if "timestamp" not in df.columns and "time" in df.columns:
                df = df.rename(columns={"time": "timestamp"})
            missing = [c for c in ("timestamp", "close") if c not in df.columns]
            if missing:
                raise ConfigError(
                    f"price file {name!r} has no {', '.join(map(repr, missing))} column: a headed "
                    "CSV needs 'timestamp' and 'close' (found "
                    f"{', '.join(map(repr, df.columns))})"
                )
        else:
            df = pd.read_csv(path, header=None)
            if df.shape[1] < 5:
                raise ConfigError(
                    f"price file {name!r} has {df.shape[1]} columns: Kraken's OHLCVT layout has "
                    "7 (timestamp, open, high, low, close, volume, trades); or add a header "
                    "with 'timestamp' and 'close'"
                )
            df.columns = _KRAKEN[: df.shape[1]] + [f"extra{i}" for i in range(df.shape[1] - 7)]
        df = df.set_index(_parse_times(df.pop("timestamp"), name))
    if "close" not in df.columns:
        raise ConfigError(f"{name} has no 'close' column: prices need one")
    if not isinstance(df.index, pd.DatetimeIndex):
        raise ConfigError(f"{name} needs a DatetimeIndex or a 'timestamp' column")
    if len(df) == 0:
        raise ConfigError(f"{name} holds no prices: expected at least one row")
    df.index = df.index.tz_localize("UTC") if df.index.tz is None else df.index.tz_convert("UTC")
    df.index = df.index.as_unit("ns")  # one resolution everywhere (pandas 3 infers seconds)
    df.index.name = "timestamp"
    for col in df.columns:
        if col in COLUMNS:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    close = df["close"].to_numpy(dtype=float)
    bad = ~(np.isfinite(close) & (close > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(
            f"{name}: row {i + 1} ({df.index[i]}) has close {float(df['close'].iloc[i])}: every "
            "close must be a finite number > 0 (drop or fill the row)"
        )
    diffs = np.diff(df.index.asi8)
    if (diffs <= 0).any():
        i = int(np.argmax(diffs <= 0)) + 1
        what = "a duplicate" if diffs[i - 1] == 0 else "an out-of-order"
        raise ConfigError(
            f"{name}: row {i + 1} has {what} timestamp {df.index[i]}: timestamps must be "
            "strictly increasing (sort and de-duplicate the file)"
        )
    cols = [c for c in COLUMNS if c in df.columns]
    return df[cols]


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _parse_times(col: pd.Series, name: str) -> pd.DatetimeIndex:
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ConfigError(f"{name}: a timestamp is missing: every row needs one")
        unit = "ms" if np.nanmax(np.abs(values)) > 1e11 else "s"
        return pd.DatetimeIndex(pd.to_datetime(values.astype("int64"), unit=unit, utc=True))
    try:
        return pd.DatetimeIndex(pd.to_datetime(col, utc=True, format="ISO8601"))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{name}: cannot read timestamps ({exc}): use unix seconds, milliseconds or ISO 8601"
        ) from None


CANDLES_SPEC_HELP = (
    "'candles:EXCHANGE:BASE/QUOTE@TIMEFRAME' (for example 'candles:kraken:BTC/USD@1h'), read "
    "from the database given by --db / $JARVIS_DB (or algo_trader_history.sqlite)"
)


def parse_candles_spec(spec: str) -> tuple[str, str, str]:
    """``"candles:kraken:BTC/USD@1h"`` -> ``("kraken", "BTC/USD", "1h")`` (timeframe default 1h).

    >>> parse_candles_spec("candles:kraken:BTC/USD@4h")
    ('kraken', 'BTC/USD', '4h')
    >>> parse_candles_spec("candles:BTC/USD")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: bad candles spec 'candles:BTC/USD': use 'candles:EXCHANGE:BASE/QUOTE@TIMEFRAME' (for example 'candles:kraken:BTC/USD@1h'), read from the database given by --db / $JARVIS_DB (or algo_trader_history.sqlite)
    """
    from .feeds import check_timeframe
    from .ticks import check_symbol

    kind, _, rest = str(spec).strip().partition(":")
    exchange, _, market = rest.partition(":")
    symbol, _, timeframe = market.partition("@")
    if kind.lower() != "candles" or not exchange or "/" not in symbol:
        raise ConfigError(f"bad candles spec {spec!r}: use {CANDLES_SPEC_HELP}")
    return exchange.lower(), check_symbol(symbol), check_timeframe(timeframe or "1h", tick=False)


def stored_candles(spec: str, db=None, *, since=None, until=None) -> pd.DataFrame:
    """The candles a spec names, read from the Store at ``db`` (a URL, a path, a Store, or
    None for ``$JARVIS_DB`` / the default file): what ``backtest``, ``sweep``,
    ``check_strategy`` and ``ReplayFeed`` take. Nothing stored is an error saying how to
    download it."""
    from .store import Store

    exchange, symbol, timeframe = parse_candles_spec(spec)
    store = db if isinstance(db, Store) else Store(db)
    try:
        frame = store.candles(exchange, symbol, timeframe, since=since, until=until)
        if frame.empty:
            sets = store.candle_sets()
            held = ", ".join(f"candles:{r.exchange}:{r.symbol}@{r.timeframe}"
                             for r in sets.itertuples()) or "none"
            raise ConfigError(
                f"no stored candles for {spec!r} in {store.safe_url}: download them first "
                f"(jarvis download --exchange {exchange} --symbol {symbol} --timeframe "
                f"{timeframe} --since 2024-01-01 --db ...). Stored: {held}")
        return frame
    finally:
        if store is not db:
            store.close()
