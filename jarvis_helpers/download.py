"""Download candle history into the Store, resumably; import Kraken's OHLCVT CSV files.

``download(exchange, symbol, timeframe="1h", since=None, until=None, store=None)`` pages
through the exchange's history (ccxt ``fetch_ohlcv``, within its rate limit) and commits
each page to the ``jarvis_candles`` table before asking for the next, so a crash or
Ctrl-C loses nothing and a second call continues after the last stored candle. Only
closed candles are stored (never the exchange's still-forming one).

Kraken's OHLC endpoint answers only its latest 720 candles: older history is built from
Kraken's trades (``fetch_trades``, paged by ``since``), each candle stored once its hour
(or timeframe) is complete; the user is told so, with the number of requests, first.

``import_csv(path, store)`` reads Kraken's downloadable OHLCVT files (the shipped sample's
layout: unix seconds, open, high, low, close, volume, trades; no header) in chunks, so
memory stays flat whatever the file's size.

>>> from jarvis_helpers import Store
>>> from jarvis_helpers.recorded import recorded_exchange
>>> store = Store("sqlite://")
>>> download(recorded_exchange("kraken"), "BTC/USD", "1h", store=store, progress=False) > 0
True
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, JarvisError
from .feeds import FORMING_LAST, TIMEFRAMES, _build_exchange, check_timeframe
from .store import Store
from .ticks import check_symbol, to_utc

log = logging.getLogger("jarvis")

__all__ = ["download", "adownload", "import_csv", "candles_from_trades", "DownloadError"]

KRAKEN_OHLC_LIMIT = 720
CSV_CHUNK = 10_000


class DownloadError(JarvisError):
    """The exchange refused the download; what is stored so far stays (run again to continue)."""


# -- building candles from trades -------------------------------------------------------

def candles_from_trades(trades, timeframe: str = "1h") -> pd.DataFrame:
    """Aggregate ccxt trades (dicts with ``timestamp`` ms, ``price``, ``amount``) into candles.

    Open is the first trade of the period, high the highest, low the lowest, close the
    last, volume the sum (rounded to 8 decimals, Kraken's volume precision). Periods
    without a trade have no row: gaps stay gaps.

    >>> trades = [{"timestamp": 0, "price": 10.0, "amount": 1.0},
    ...           {"timestamp": 60_000, "price": 12.0, "amount": 0.5},
    ...           {"timestamp": 3_600_000, "price": 11.0, "amount": 2.0}]
    >>> candles_from_trades(trades, "1h").values.tolist()
    [[10.0, 12.0, 10.0, 12.0, 1.5], [11.0, 11.0, 11.0, 11.0, 2.0]]
    """
    tf_ms = TIMEFRAMES[check_timeframe(timeframe, tick=False)] * 1000
    columns = ["open", "high", "low", "close", "volume"]
    if not len(trades):
        frame = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        frame.index = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]", name="timestamp")
        return frame
    ms = np.fromiter((t["timestamp"] for t in trades), dtype=np.int64, count=len(trades))
    price = np.fromiter((t["price"] for t in trades), dtype=float, count=len(trades))
    amount = np.fromiter((t["amount"] for t in trades), dtype=float, count=len(trades))
    order = np.argsort(ms, kind="stable")
    ms, price, amount = ms[order], price[order], amount[order]
    bucket = ms // tf_ms * tf_ms
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(ms)]
    frame = pd.DataFrame({
        "open": price[starts],
        "high": np.maximum.reduceat(price, starts),
        "low": np.minimum.reduceat(price, starts),
        "close": price[ends - 1],
        "volume": np.round(np.add.reduceat(amount, starts), 8),
    }, index=pd.DatetimeIndex(pd.to_datetime(bucket[starts], unit="ms", utc=True), name="timestamp"))
    frame.index = frame.index.as_unit("ns")
    return frame


# -- progress -----------------------------------------------------------------------------

class _Progress:
    """A bar with rows added and the time range covered: tqdm (a widget in a notebook)
    when installed, else one rewritten stderr line. Silent with ``enabled=False``."""

    def __init__(self, enabled: bool, start_ms: int, end_ms: int, tf_ms: int, label: str):
        self.enabled = enabled
        self.tf_ms = tf_ms
        self.start_ms = start_ms
        self.total = max(1, (end_ms - start_ms) // tf_ms)
        self.done = 0
        self.rows = 0
        self.label = label
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=self.total, desc=label, unit="candle", file=sys.stderr,
                                 dynamic_ncols=True)
            except ImportError:
                self._bar = None

    def say(self, text: str) -> None:
        if not self.enabled:
            log.info(text)
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def update(self, reached_ms: int, added: int) -> None:
        self.rows += added
        done = min(self.total, max(self.done, (reached_ms - self.start_ms) // self.tf_ms))
        step, self.done = done - self.done, done
        if not self.enabled:
            return
        upto = pd.Timestamp(reached_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")
        first = pd.Timestamp(self.start_ms, unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M")
        text = f"{self.rows:,} rows {first} -> {upto}"
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(step)
        else:
            print(f"\r{self.label}: {text} ({100 * self.done // self.total}%)", end="",
                  file=sys.stderr, flush=True)

    def close(self, finished: bool = False) -> None:
        """End the bar; ``finished``: the download reached the newest closed candle (the
        bar shows 100 % even where the exchange had no candles left to give)."""
        if not self.enabled:
            return
        if self._bar is not None:
            if finished and self.done < self.total:
                self._bar.update(self.total - self.done)
            self._bar.close()
        else:
            print(file=sys.stderr, flush=True)


# -- the download -----------------------------------------------------------------------

@dataclass
class _Job:
    exchange: object
    exchange_id: str
    symbol: str
    timeframe: str
    tf_ms: int
    store: Store
    until_ms: int | None
    backoff: tuple[float, float]
    retries: int
    progress: _Progress | None = None
    requests: int = 0

    async def call(self, what: str, fn, *args, **kwargs):
        """One request: ccxt NetworkErrors (timeouts, rate limits...) are retried with
        capped exponential backoff; an ExchangeError stops the download, saying why."""
        import ccxt

        delay, attempt = self.backoff[0], 0
        while True:
            try:
                self.requests += 1
                return await fn(*args, **kwargs)
            except ccxt.NetworkError as exc:
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(
                        f"{self.exchange_id} {what} kept failing ({type(exc).__name__}: "
                        f"{_one_line(exc)}) after {self.retries} retries; the candles stored "
                        "so far are kept: run the same download again to continue") from None
                kind = "rate limited" if isinstance(exc, ccxt.DDoSProtection) else "network error"
                log.warning("%s %s: %s (%s); retry %d in %.1fs", self.exchange_id, what, kind,
                            _one_line(exc), attempt, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])
            except ccxt.ExchangeError as exc:
                raise DownloadError(
                    f"{self.exchange_id} refused {what} for {self.symbol} ({type(exc).__name__}: "
                    f"{_one_line(exc)}); the candles stored so far are kept: fix the cause and "
                    "run the same download again to continue") from None

    def now_ms(self) -> int:
        now = getattr(self.exchange, "milliseconds", None)
        return int(now()) if now is not None else int(time.time() * 1000)

    def end_ms(self) -> int:
        """Open times up to (excluding) this are stored: closed by now, within ``until``."""
        closed = self.now_ms() // self.tf_ms * self.tf_ms  # the forming candle's open
        if self.until_ms is not None:
            return min(closed, self.until_ms + 1)
        return closed

    def write(self, frame: pd.DataFrame, start_ms: int) -> int:
        """Store the closed candles of ``frame`` from ``start_ms`` on; return rows added."""
        if len(frame):
            ms = frame.index.asi8 // 1_000_000
            frame = frame[(ms >= start_ms) & (ms < self.end_ms())]
        if not len(frame):
            return 0
        added = self.store.write_candles(self.exchange_id, self.symbol, self.timeframe, frame)
        last = int(frame.index[-1].value // 1_000_000)
        if self.progress is not None:
            self.progress.update(last + self.tf_ms, added)
        return added


def _rows_frame(rows) -> pd.DataFrame:
    rows = [r for r in rows if r and r[0] is not None]
    frame = pd.DataFrame([r[1:6] for r in rows], columns=["open", "high", "low", "close", "volume"],
                         dtype=float)
    frame.index = pd.DatetimeIndex(pd.to_datetime([int(r[0]) for r in rows], unit="ms", utc=True),
                                   name="timestamp").as_unit("ns")
    return frame[~frame.index.duplicated(keep="last")].sort_index()


async def _ohlcv_pages(job: _Job, cursor: int) -> int:
    """Page ``fetch_ohlcv`` forward from ``cursor`` until the newest closed candle."""
    added = 0
    limit = getattr(job.exchange, "options", {}).get("fetchOHLCVLimit") or 1000
    while cursor < job.end_ms():
        rows = await job.call("OHLC", job.exchange.fetch_ohlcv, job.symbol, job.timeframe,
                              since=cursor, limit=limit)
        if job.exchange_id in FORMING_LAST and rows:
            rows = rows[:-1]  # Kraken's last row is the still-forming candle, whatever the clock
        frame = _rows_frame(rows)
        frame = frame[frame.index.asi8 // 1_000_000 >= cursor]
        if not len(frame):
            break
        added += job.write(frame, cursor)
        newest = int(frame.index[-1].value // 1_000_000)
        if newest + job.tf_ms >= job.end_ms():
            break
        cursor = newest + job.tf_ms
    return added


async def _trade_pages(job: _Job, cursor: int, switch_ms: int) -> int:
    """Candles from trades for open times in [cursor, switch_ms): Kraken's way to history.

    Pages by Kraken's ``last`` id; after each page the periods before the newest trade's
    period are complete and are committed; the unfinished one waits for the next page.
    """
    added = 0
    carry: list[dict] = []
    params: dict = {}
    since = cursor
    while True:
        trades = await job.call("Trades", job.exchange.fetch_trades, job.symbol,
                                since=since if not params else None, params=params)
        if not trades:
            break
        carry.extend(t for t in trades if t["timestamp"] >= cursor)
        last_id = trades[-1]["info"][-1] if isinstance(trades[-1].get("info"), list) else None
        newest = int(trades[-1]["timestamp"])
        complete_before = min(newest // job.tf_ms * job.tf_ms, switch_ms)
        done = [t for t in carry if t["timestamp"] < complete_before]
        carry = [t for t in carry if t["timestamp"] >= complete_before]
        if done:
            added += job.write(candles_from_trades(done, job.timeframe), cursor)
        if job.progress is not None:
            job.progress.update(complete_before, 0)
        if newest >= switch_ms or newest >= job.end_ms():
            break
        if last_id is not None and str(last_id).isdigit():
            params = {"since": str(last_id)}
        else:
            since = newest + 1
    # the last period is complete when the trades reached past it
    tail = [t for t in carry if t["timestamp"] < switch_ms]
    if tail:
        added += job.write(candles_from_trades(tail, job.timeframe), cursor)
    return added


async def adownload(exchange, symbol: str, timeframe: str = "1h", since=None, until=None,
                    store: Store | None = None, progress: bool = True, *,
                    source: str = "auto", backoff=(1.0, 60.0), retries: int = 8,
                    close_exchange: bool | None = None) -> int:
    """``download`` as a coroutine (await it inside a running event loop). An exchange
    object given is left open unless ``close_exchange``; one built from an id is closed."""
    symbol = check_symbol(symbol)
    timeframe = check_timeframe(timeframe, tick=False)
    if source not in ("auto", "ohlcv", "trades"):
        raise ConfigError(f"bad source {source!r}: use 'auto', 'ohlcv' or 'trades'")
    since_ms = None if since is None else int(to_utc(since).value // 1_000_000)
    until_ms = None if until is None else int(to_utc(until).value // 1_000_000)
    if since_ms is not None and until_ms is not None and until_ms < since_ms:
        raise ConfigError(f"until {until!r} is before since {since!r}: give until >= since")
    built = isinstance(exchange, str)
    own_exchange = built if close_exchange is None else bool(close_exchange)
    ex = _build_exchange(exchange) if built else exchange
    own_store = store is None
    store = store if store is not None else Store()
    tf_ms = TIMEFRAMES[timeframe] * 1000
    job = _Job(ex, getattr(ex, "id", str(exchange)), symbol, timeframe, tf_ms, store, until_ms,
               (float(backoff[0]), float(backoff[1])), int(retries))
    try:
        markets = await job.call("markets", ex.load_markets)
        if symbol not in markets:
            from .errors import did_you_mean

            raise ConfigError(f"{job.exchange_id} has no market {symbol!r}."
                              + did_you_mean(symbol, list(markets)))
        offered = getattr(ex, "timeframes", None) or {}
        if offered and timeframe not in offered:
            raise ConfigError(f"{job.exchange_id} has no {timeframe!r} candles: it offers "
                              f"{', '.join(offered)}")
        _, last, _ = store.candle_range(job.exchange_id, symbol, timeframe)
        last_ms = None if last is None else int(last.value // 1_000_000)
        start = since_ms
        if last_ms is not None and (start is None or last_ms >= start):
            start = last_ms + tf_ms  # resume after the newest stored candle
        is_kraken = job.exchange_id == "kraken"
        window_rows = None
        if start is None or (is_kraken and source != "trades"):
            # Where does the exchange's own OHLC history begin? (Kraken: 720 candles back.)
            window_rows = await job.call("OHLC", ex.fetch_ohlcv, symbol, timeframe)
        window = _rows_frame(window_rows or [])
        window_start = int(window.index[0].value // 1_000_000) if len(window) else job.end_ms()
        if start is None:
            start = window_start
        start = start // tf_ms * tf_ms
        end = job.end_ms()
        label = f"{job.exchange_id} {symbol} {timeframe}"
        job.progress = _Progress(progress, start, max(end, start + tf_ms), tf_ms, label)
        added = 0
        finished = False
        try:
            if start >= end:
                job.progress.say(f"{label}: up to date (nothing closed after "
                                 f"{pd.Timestamp(start - tf_ms, unit='ms', tz='UTC')})")
                return 0
            use_trades = source == "trades" or (is_kraken and source == "auto" and start < window_start)
            if use_trades:
                switch = end if source == "trades" else window_start
                pages = math.ceil((switch - start) / tf_ms)
                job.progress.say(
                    f"{label}: Kraken's OHLC endpoint only returns its latest {KRAKEN_OHLC_LIMIT} "
                    f"candles, so the {pages:,} candles from "
                    f"{pd.Timestamp(start, unit='ms', tz='UTC')} to "
                    f"{pd.Timestamp(switch, unit='ms', tz='UTC')} are built from Kraken's trades "
                    "(1000 trades a request, within the rate limit: this can take long; "
                    "Ctrl-C is safe, run it again to continue). Kraken's OHLCVT files "
                    "(import with --csv) are faster for years of history.")
                added += await _trade_pages(job, start, switch)
                if source == "trades":
                    finished = True
                    return added
                # The OHLC window moved while the trades were read: continue from it.
                _, last, _ = store.candle_range(job.exchange_id, symbol, timeframe)
                start = max(switch, int(last.value // 1_000_000) + tf_ms if last is not None else switch)
            added += await _ohlcv_pages(job, start)
            finished = True
            return added
        finally:
            job.progress.close(finished)
    finally:
        if own_store:
            store.close()
        if own_exchange:
            await ex.close()


def download(exchange, symbol: str, timeframe: str = "1h", since=None, until=None,
             store: Store | None = None, progress: bool = True, **options) -> int:
    """Download closed candles into the store; return the number of rows added.

    ``exchange``: an id (``"kraken"``) or a ccxt async exchange object. ``since`` /
    ``until``: open times (anything ``pd.Timestamp`` reads; naive means UTC); without
    ``since``, what the exchange's candle endpoint holds. A second call continues after
    the newest stored candle. ``source``: ``"auto"`` (Kraken: trades before its 720-candle
    window), ``"ohlcv"`` or ``"trades"``. ``backoff=(first, cap)`` seconds and
    ``retries`` for network errors and rate limits. In a notebook (a running loop) the
    download runs on a worker thread; ``await adownload(...)`` is the same as a coroutine.
    The download runs on its own event loop, so an exchange object given is closed at
    the end (its connections belong to that loop).
    """
    options.setdefault("close_exchange", True)
    coro = adownload(exchange, symbol, timeframe, since, until, store, progress, **options)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict = {}

    def worker():
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed back to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=worker, name="jarvis-download", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


# -- Kraken's OHLCVT files ----------------------------------------------------------------

def import_csv(path, store: Store | None = None, *, exchange: str = "kraken", symbol=None,
               timeframe: str | None = None, chunk: int = CSV_CHUNK, progress: bool = False) -> int:
    """Import a Kraken OHLCVT CSV file (no header: unix seconds, open, high, low, close,
    volume, trades) into the candles table; return the rows added.

    ``symbol`` and ``timeframe`` default to what Kraken's file name says
    (``XBTUSD_60.csv`` is BTC/USD, 60 minutes = ``1h``). Read ``chunk`` rows at a time:
    memory stays flat. Importing the same file twice adds nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"CSV file {str(path)!r} does not exist: give a Kraken OHLCVT file "
                          "such as XBTUSD_60.csv")
    name_symbol, name_tf = _kraken_file_name(path)
    symbol = check_symbol(symbol or name_symbol or "")
    timeframe = check_timeframe(timeframe or name_tf or "", tick=False)
    own_store = store is None
    store = store if store is not None else Store()
    added = total = 0
    bar = _Progress(progress, 0, 1, 1, f"import {path.name}")
    try:
        reader = pd.read_csv(path, header=None, chunksize=int(chunk),
                             usecols=range(6), names=["timestamp", "open", "high", "low", "close", "volume"],
                             dtype={"timestamp": "int64", "open": float, "high": float, "low": float,
                                    "close": float, "volume": float})
        for part in reader:
            part.index = pd.DatetimeIndex(pd.to_datetime(part.pop("timestamp"), unit="s", utc=True),
                                          name="timestamp")
            close = part["close"].to_numpy()
            if not (np.isfinite(close) & (close > 0)).all():
                i = int(np.argmax(~(np.isfinite(close) & (close > 0))))
                raise ConfigError(f"{path}: row {total + i + 1} has close {close[i]}: every close "
                                  "must be a finite number > 0")
            added += store.write_candles(exchange, symbol, timeframe, part)
            total += len(part)
            if progress:
                bar.say(f"{path.name}: {total:,} rows read, {added:,} new (up to {part.index[-1]})")
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{path} is not a Kraken OHLCVT file ({exc}): expected rows of unix "
                          "seconds, open, high, low, close, volume, trades") from None
    finally:
        if own_store:
            store.close()
    return added


_KRAKEN_ASSETS = {"XBT": "BTC", "XDG": "DOGE"}
_QUOTES = ("USDT", "USDC", "USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "XBT", "ETH", "DAI")
_MINUTES = {seconds // 60: timeframe for timeframe, seconds in TIMEFRAMES.items()}


def _kraken_file_name(path: Path):
    """``XBTUSD_60.csv`` -> ("BTC/USD", "1h"); (None, None) when the name says nothing."""
    stem = path.name.split(".")[0]
    pair, _, minutes = stem.partition("_")
    timeframe = _MINUTES.get(int(minutes)) if minutes.isdigit() else None
    symbol = None
    for quote in _QUOTES:
        if pair.upper().endswith(quote) and len(pair) > len(quote):
            base = pair.upper()[: -len(quote)]
            symbol = f"{_KRAKEN_ASSETS.get(base, base)}/{_KRAKEN_ASSETS.get(quote, quote)}"
            break
    return symbol, timeframe


def _one_line(exc) -> str:
    return " ".join(str(exc).split())[:300]


# -- the command line: `jarvis download` ------------------------------------------------------

def add_parser(sub) -> None:
    """Add ``jarvis download`` to the ``jarvis`` command's subparsers."""
    p = sub.add_parser(
        "download", help="download candle history (or import a Kraken OHLCVT CSV) into the database",
        description="Download closed candles into the database's jarvis_candles table; run it "
        "again to continue after the newest stored candle (Ctrl-C is safe). Ends with one JSON "
        "line: rows added and what the database holds for that series.")
    p.add_argument("--exchange", default="kraken", help="a ccxt exchange id (kraken)")
    p.add_argument("--symbol", default=None, help="BASE/QUOTE, e.g. BTC/USD (with --csv: from the "
                   "file name)")
    p.add_argument("--timeframe", default=None, help=f"one of {', '.join(TIMEFRAMES)} (1h; with "
                   "--csv: from the file name)")
    p.add_argument("--since", default=None, help="first open time, e.g. 2024-01-01 (UTC)")
    p.add_argument("--until", default=None, help="last open time (default: the newest closed candle)")
    p.add_argument("--source", default="auto", choices=["auto", "ohlcv", "trades"],
                   help="auto: Kraken history older than its 720-candle window from trades")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="import this Kraken OHLCVT file instead of downloading")
    p.add_argument("--db", default=None, help="database URL or SQLite path ($JARVIS_DB or "
                   "algo_trader_history.sqlite)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=main)


def main(args) -> int:
    """Run ``jarvis download`` from parsed arguments; print one JSON line; return 0."""
    import json

    store = Store(args.db)
    try:
        if args.csv:
            if args.since or args.until:
                raise ConfigError("--since/--until do not apply to --csv (a file is imported whole)")
            path = Path(args.csv)
            name_symbol, name_tf = _kraken_file_name(path)
            symbol, timeframe = args.symbol or name_symbol, args.timeframe or name_tf
            added = import_csv(path, store, exchange=args.exchange, symbol=symbol,
                               timeframe=timeframe, progress=not args.quiet)
        else:
            symbol, timeframe = args.symbol or "BTC/USD", args.timeframe or "1h"
            added = download(args.exchange, symbol, timeframe, args.since, args.until, store,
                             progress=not args.quiet, source=args.source)
        first, last, count = store.candle_range(args.exchange, symbol, timeframe)
        print(json.dumps({"added": added, "exchange": args.exchange, "symbol": symbol,
                          "timeframe": timeframe, "candles": count,
                          "first": None if first is None else first.isoformat(),
                          "last": None if last is None else last.isoformat()}), flush=True)
        return 0
    finally:
        store.close()
