"""Where ticks come from. Every feed has ``await feed.fetch() -> Tick`` and ``await feed.close()``.

- ``ExchangeFeed``: live prices from any ccxt exchange, asynchronously (ccxt.async_support):
  the ticker (``timeframe="tick"``) or each closed candle of a timeframe (``"1h"``...).
- ``ReplayFeed``: recorded candles replayed as ticks (default: the shipped Kraken sample).
- ``RandomWalkFeed``: a seeded synthetic walk, reproducible.
- ``open_feed(spec)``: one of the above from a short text such as ``"kraken:BTC/USD"`` or
  ``"kraken:BTC/USD@1h"`` (closed hourly candles).

>>> import asyncio
>>> feed = open_feed("replay:BTC/USD")
>>> tick = asyncio.run(feed.fetch())
>>> tick.symbol, str(tick.timestamp), tick.close
('BTC/USD', '2018-10-01 00:00:00+00:00', 6626.2)
"""

from __future__ import annotations

import asyncio
import collections
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .data import SAMPLES, load_sample, parse_candles_spec, read_prices, stored_candles
from .errors import ConfigError, FeedExhausted, did_you_mean
from .ticks import BadTick, Tick, check_symbol, to_utc

__all__ = ["ExchangeFeed", "ReplayFeed", "RandomWalkFeed", "open_feed", "FeedExhausted",
           "TIMEFRAMES"]

DEFAULT_SPEC = "replay"

TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14_400, "1d": 86_400}
"""The candle timeframes a feed and ``download`` accept, in seconds (plus ``"tick"``)."""


FORMING_LAST = frozenset({"kraken"})
"""Exchanges whose last OHLC row is always the still-forming candle (whatever the clock says)."""


def check_timeframe(timeframe, *, tick: bool = True) -> str:
    """Return the timeframe if it is one of ``TIMEFRAMES`` (or ``"tick"``), else raise.

    >>> check_timeframe("1h")
    '1h'
    >>> check_timeframe("1H")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: bad timeframe '1H': use one of tick, 1m, 5m, 15m, 1h, 4h, 1d. Did you mean: 1h?
    """
    allowed = (["tick"] if tick else []) + list(TIMEFRAMES)
    if timeframe not in allowed:
        raise ConfigError(f"bad timeframe {timeframe!r}: use one of {', '.join(allowed)}."
                          + did_you_mean(str(timeframe), allowed))
    return timeframe


class Feed:
    """Base class. ``durable`` feeds can be replayed from disk, so the bot may group commits."""

    symbol: str = ""
    spec: str = ""
    durable = False

    async def fetch(self) -> Tick:  # pragma: no cover - interface
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections. Safe to call twice."""

    def start_after(self, timestamp) -> None:
        """Continue after ``timestamp`` (how a resumed bot skips what it already stored).

        A live feed has nothing to skip: its next tick is simply newer.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class ReplayFeed(Feed):
    """Replays prices as ticks: each candle's close at the candle's time.

    ``source``: a DataFrame, a CSV path (Kraken's OHLCVT layout without header, or a
    headed CSV with ``timestamp`` and ``close``) or None for the shipped BTC/USD sample.
    ``pace``: seconds to wait before each tick (0 = as fast as possible).
    ``start_after``: skip every tick up to and including this time.
    """

    durable = True

    def __init__(self, source=None, symbol: str | None = None, *, pace: float = 0.0,
                 start_after=None):
        if source is None:
            symbol = symbol or "BTC/USD"
            frame = load_sample(symbol)
            self.spec = f"replay:{symbol}"
        else:
            frame = read_prices(source)
            self.spec = "replay:" + (str(source) if not isinstance(source, pd.DataFrame) else "frame")
            symbol = symbol or _symbol_from_path(source) or "BTC/USD"
        self.symbol = check_symbol(symbol)
        self._times = frame.index.asi8.copy()  # int64 nanoseconds, UTC
        self._closes = frame["close"].to_numpy(dtype=float).copy()
        # Candles replay as candles (open high low volume kept), plain prices as flat bars,
        # checked here once for the whole history (as the backtest reads them: an open, high
        # or low that is missing or not > 0 is the close; a bad volume is unknown, NaN).
        close = self._closes
        bars = []
        for col in ("open", "high", "low"):
            values = (frame[col].to_numpy(dtype=float) if col in frame.columns
                      else np.full(len(frame), np.nan))
            bars.append(np.where(np.isfinite(values) & (values > 0), values, close))
        volume = (frame["volume"].to_numpy(dtype=float) if "volume" in frame.columns
                  else np.full(len(frame), np.nan))
        bars.append(np.where(np.isfinite(volume) & (volume >= 0), volume, np.nan))
        self._bars = np.column_stack(bars)
        self._stamps: list = []
        self._stamps_from = -1
        self._pos = 0
        self.pace = float(pace)
        if start_after is not None:
            self.start_after(start_after)

    def __len__(self) -> int:
        return len(self._closes)

    @property
    def remaining(self) -> int:
        return len(self._closes) - self._pos

    def start_after(self, timestamp) -> None:
        ns = to_utc(timestamp).value
        self._pos = int(np.searchsorted(self._times, ns, side="right"))

    async def fetch(self) -> Tick:
        if self._pos >= len(self._closes):
            raise FeedExhausted(f"{self.spec}: all {len(self._closes)} ticks replayed")
        if self.pace:
            await asyncio.sleep(self.pace)
        i = self._pos
        self._pos = i + 1
        o, h, lo, v = self._bars[i].tolist()
        return Tick.trusted(self.symbol, self._stamp(i), float(self._closes[i]), o, h, lo, v)

    _STAMPS = 4096

    def _stamp(self, i: int) -> pd.Timestamp:
        """The i-th time as a UTC Timestamp, made a few thousand at a time (much faster
        than one by one; memory stays bounded whatever the history's length)."""
        k = i - self._stamps_from
        if self._stamps_from < 0 or not 0 <= k < len(self._stamps):
            self._stamps_from = i
            chunk = self._times[i:i + self._STAMPS]
            self._stamps = pd.DatetimeIndex(chunk, tz="UTC").astype(object).tolist()
            k = 0
        return self._stamps[k]


def _symbol_from_path(source) -> str | None:
    if isinstance(source, (str, Path)):
        stem = Path(source).name.upper()
        for sym, fname in SAMPLES.items():
            if stem.startswith(fname.split("_")[0]):
                return sym
    return None


class RandomWalkFeed(Feed):
    """A seeded geometric random walk: the same seed always gives the same ticks.

    One tick per ``step`` of simulated time from ``start``; endless unless ``n`` is given.

    >>> import asyncio
    >>> a, b = RandomWalkFeed(seed=7), RandomWalkFeed(seed=7)
    >>> asyncio.run(a.fetch()) == asyncio.run(b.fetch())
    True
    """

    durable = True
    _CHUNK = 4096

    def __init__(self, seed: int = 42, symbol: str = "RND/USD", *, price: float = 100.0,
                 volatility: float = 0.002, start="2024-01-01", step="1min", n: int | None = None,
                 pace: float = 0.0):
        self.seed = int(seed)
        self.symbol = check_symbol(symbol)
        self.spec = f"random:{self.seed}"
        self._price0 = float(price)
        self._vol = float(volatility)
        self._t0 = to_utc(start).value
        self._dt = pd.Timedelta(step).value
        self.n = n
        self.pace = float(pace)
        self._restart()

    def _restart(self):
        self._rng = np.random.default_rng(self.seed)
        self._i = 0
        self._log_price = math.log(self._price0)
        self._buf = np.empty(0)
        self._buf_pos = 0

    def _next_price(self) -> float:
        if self._buf_pos >= len(self._buf):
            self._buf = self._rng.standard_normal(self._CHUNK) * self._vol
            self._buf_pos = 0
        self._log_price += float(self._buf[self._buf_pos])
        self._buf_pos += 1
        return round(math.exp(self._log_price), 6)

    def start_after(self, timestamp) -> None:
        ns = to_utc(timestamp).value
        self._restart()
        skip = max(0, (ns - self._t0) // self._dt + 1)
        for _ in range(int(skip)):
            self._next_price()
            self._i += 1

    async def fetch(self) -> Tick:
        if self.n is not None and self._i >= self.n:
            raise FeedExhausted(f"{self.spec}: all {self.n} ticks generated")
        if self.pace:
            await asyncio.sleep(self.pace)
        price = self._next_price()
        ts = pd.Timestamp(self._t0 + self._i * self._dt, tz="UTC")
        self._i += 1
        return Tick(self.symbol, ts, price)


def exchange_ids() -> list[str]:
    import ccxt.async_support as ccxt_async

    return list(ccxt_async.exchanges)


def _build_exchange(exchange_id: str, config: dict | None = None):
    import ccxt.async_support as ccxt_async

    if exchange_id not in ccxt_async.exchanges:
        raise ConfigError(
            f"unknown exchange {exchange_id!r}: use a ccxt exchange id such as 'kraken', "
            "'coinbase' or 'binance'." + did_you_mean(exchange_id, ccxt_async.exchanges)
        )
    options = {"enableRateLimit": True}
    options.update(config or {})
    return getattr(ccxt_async, exchange_id)(options)


class ExchangeFeed(Feed):
    """Live prices from a ccxt exchange, fetched without blocking (ccxt.async_support).

    ``exchange``: an exchange id ('kraken') or an already-built async exchange object.
    One exchange object serves every fetch: markets are loaded once and ccxt's rate
    limiter stays on. Public prices need no API key. Call ``await feed.close()`` when
    done (the bot does it on stop).

    ``timeframe="tick"`` (default) polls the ticker: a tick's time is the exchange's, or
    the time the answer arrived (UTC) when the exchange gives none (Kraken's gives none).
    ``timeframe="1m" | "5m" | "15m" | "1h" | "4h" | "1d"`` yields each candle once, after
    it has closed, as a Tick with ``open high low close volume`` stamped with its open
    time. The exchange's still-forming candle (Kraken's last OHLC row) is never yielded;
    hours without trades stay gaps. ``fetch`` waits for the next close, polling
    ``fetch_ohlcv`` at a pace that fits the timeframe and the rate limit (``poll``: fixed
    seconds between polls instead). The first candle is the newest closed one, or the
    one after ``start_after`` (how a resumed bot catches up; Kraken keeps 720 candles).

    ``stream="ws"`` takes the same ticks or candles from the exchange's websocket
    (ccxt.pro ``watch_ticker``/``watch_ohlcv``), see ``jarvis_helpers.wsfeed``.

    >>> ExchangeFeed("kraken", "BTC/USD", "1h")
    ExchangeFeed('kraken:BTC/USD@1h')
    """

    durable = False
    SETTLE = 2.0  # seconds after a close before asking (the exchange commits the candle)
    MAX_POLL = 60.0  # never wait longer than this between polls (clocks may differ)

    def __init__(self, exchange="kraken", symbol: str = "BTC/USD", timeframe: str = "tick", *,
                 config: dict | None = None, stream: str = "rest", poll: float | None = None,
                 ws_max_failures: int = 3, ws_backoff: tuple[float, float] = (0.5, 10.0),
                 ws_retry: float = 300.0):
        self.symbol = check_symbol(symbol)
        self.timeframe = check_timeframe(timeframe)
        if stream not in ("rest", "ws"):
            raise ConfigError(f"bad stream {stream!r}: use 'rest' (polling) or 'ws' (websocket)"
                              + did_you_mean(str(stream), ["rest", "ws"]))
        self.stream = stream
        if poll is not None and not (isinstance(poll, (int, float)) and poll >= 0):
            raise ConfigError(f"bad poll {poll!r}: give seconds >= 0, or None to pace by the timeframe")
        self.poll = poll
        if isinstance(exchange, str):
            if stream == "ws":
                from .wsfeed import build_ws_exchange

                self.exchange = build_ws_exchange(exchange, config)
            else:
                self.exchange = _build_exchange(exchange, config)
        else:
            self.exchange = exchange
            if hasattr(exchange, "enableRateLimit"):
                exchange.enableRateLimit = True
        if stream == "ws":
            from .wsfeed import check_ws_exchange

            check_ws_exchange(self.exchange, self.timeframe)
        self.ws_max_failures = max(1, int(ws_max_failures))
        self.ws_backoff = (float(ws_backoff[0]), float(ws_backoff[1]))
        self.ws_retry = float(ws_retry)
        self.ws_drops = self.ws_fallbacks = self.ws_messages = 0
        self.last_ws_error: str | None = None
        self._ws_failures = 0
        self._ws_down_since: float | None = None
        self.exchange_id = getattr(self.exchange, "id", type(self.exchange).__name__)
        self.spec = f"{self.exchange_id}:{self.symbol}" + (
            "" if self.timeframe == "tick" else f"@{self.timeframe}")
        self._markets_checked = False
        self._ready: collections.deque = collections.deque()  # closed candles not yet yielded
        self._after_ms: int | None = None  # the newest candle yielded (or resumed from)
        self._forming_ms: int | None = None  # open time of the exchange's forming candle
        self.polls = 0

    @property
    def tf_ms(self) -> int:
        return TIMEFRAMES[self.timeframe] * 1000

    async def _check_symbol(self) -> None:
        import ccxt

        markets = await self.exchange.load_markets()
        if self.symbol not in markets:
            raise ccxt.BadSymbol(
                f"{self.exchange_id} has no market {self.symbol!r}."
                + did_you_mean(self.symbol, list(markets))
                + " Symbols use ccxt's unified form BASE/QUOTE."
            )
        if self.timeframe != "tick":
            offered = getattr(self.exchange, "timeframes", None) or {}
            if offered and self.timeframe not in offered:
                raise ConfigError(
                    f"{self.exchange_id} has no {self.timeframe!r} candles: it offers "
                    f"{', '.join(offered)}")
        self._markets_checked = True

    def start_after(self, timestamp) -> None:
        """Candles: continue with the candle after ``timestamp`` (a resumed bot catches up)."""
        if self.timeframe != "tick":
            self._after_ms = to_utc(timestamp).value // 1_000_000
            self._ready.clear()

    async def fetch(self) -> Tick:
        if not self._markets_checked:
            await self._check_symbol()
        if self.stream == "ws":
            from .wsfeed import next_tick

            return await next_tick(self)
        return await self._rest_fetch()

    async def _rest_fetch(self) -> Tick:
        if self.timeframe == "tick":
            return await self._fetch_ticker()
        while not self._ready:
            await self._poll_candles()
            if not self._ready:
                await asyncio.sleep(self.next_wait())
        return self._ready.popleft()

    async def _fetch_ticker(self) -> Tick:
        try:
            ticker = await self.exchange.fetch_ticker(self.symbol)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            # ccxt parsed an answer it could not read (e.g. a price "NaN"): a bad tick, not
            # a bug; ccxt's own errors are not ValueErrors and pass through unchanged.
            raise BadTick(f"{self.spec}: unreadable ticker ({type(exc).__name__}: {exc})") from None
        received = pd.Timestamp.now(tz="UTC")
        if not isinstance(ticker, dict):
            raise BadTick(f"{self.spec}: the exchange answered {type(ticker).__name__}, not a ticker")
        price = ticker.get("last")
        if price is None:
            price = ticker.get("close")
        if price is None:
            raise BadTick(f"{self.spec}: the ticker has no last price")
        stamp = ticker.get("timestamp")
        timestamp = to_utc(stamp) if stamp else received
        return Tick(self.symbol, timestamp, price)

    def _now_ms(self) -> int:
        now = getattr(self.exchange, "milliseconds", None)
        return int(now()) if now is not None else int(pd.Timestamp.now(tz="UTC").value // 1_000_000)

    async def _poll_candles(self) -> None:
        """Ask for the candles after the last one yielded; queue those that have closed."""
        since = None if self._after_ms is None else self._after_ms + self.tf_ms
        try:
            rows = await self.exchange.fetch_ohlcv(self.symbol, self.timeframe, since=since)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise BadTick(f"{self.spec}: unreadable candles ({type(exc).__name__}: {exc})") from None
        self.polls += 1
        self.accept_rows(rows, self._now_ms())

    def accept_rows(self, rows, now_ms: int) -> list[Tick]:
        """Queue the closed candles among ccxt OHLCV ``rows``, each once; return them.

        A row is closed when a later row follows it or its period has ended by
        ``now_ms`` (the exchange's clock). The last row of an answer is normally the
        still-forming candle (on Kraken always): it is remembered (for pacing) and never
        queued.
        """
        rows = sorted((r for r in rows or () if r and r[0] is not None), key=lambda r: r[0])
        closed = []
        for i, row in enumerate(rows):
            is_last = i == len(rows) - 1
            if is_last and (row[0] + self.tf_ms > now_ms or self.exchange_id in FORMING_LAST):
                self._forming_ms = int(row[0])
                break
            closed.append(row)
        if closed and self._after_ms is None:
            closed = closed[-1:]  # a fresh feed starts with the newest closed candle
        fresh = []
        for row in closed:
            ms = int(row[0])
            if self._after_ms is not None and ms <= self._after_ms:
                continue  # already yielded (or older than where we resumed)
            try:
                tick = Tick(self.symbol, ms, row[4], row[1], row[2], row[3], row[5])
            except BadTick as exc:
                raise BadTick(f"{self.spec}: bad candle at {to_utc(ms)}: {exc}") from None
            fresh.append(tick)
            self._after_ms = ms
        self._ready.extend(fresh)
        return fresh

    def next_wait(self) -> float:
        """Seconds to wait before the next poll: until the forming candle closes (plus a
        moment for the exchange to commit it), at least the rate limit, at most
        ``MAX_POLL``; or ``poll`` when given."""
        if self.poll is not None:
            return float(self.poll)
        floor = max(float(getattr(self.exchange, "rateLimit", 1000) or 0) / 1000, 1.0)
        if self._forming_ms is None:
            return floor
        due = (self._forming_ms + self.tf_ms - self._now_ms()) / 1000 + self.SETTLE
        return float(min(max(due, floor), self.MAX_POLL))

    async def close(self) -> None:
        closer = getattr(self.exchange, "close", None)
        if closer is not None:
            await closer()


def open_feed(spec: str | None = None, **options) -> Feed:
    """Build a feed from a spec (default: ``$JARVIS_FEED`` or ``"replay"``).

    ``"replay"`` / ``"replay:BTC/USD"`` (shipped sample), ``"replay:path/to.csv"``,
    ``"random"`` / ``"random:7"`` (seeded walk), ``"kraken:BTC/USD"`` (any ccxt exchange's
    ticker), ``"kraken:BTC/USD@1h"`` (its closed hourly candles; also 1m 5m 15m 4h 1d),
    ``"candles:kraken:BTC/USD@1h"`` (candles stored by ``download``, replayed; the database
    is ``db=`` or ``$JARVIS_DB``). Exchange specs take ``?stream=ws`` (the websocket) and
    ``?poll=SECONDS``.

    >>> open_feed("kraken:BTC/USD@1h?stream=ws").stream
    'ws'

    >>> open_feed("kraken:BTC/USD@4h").timeframe
    '4h'

    >>> open_feed("random:7")
    RandomWalkFeed('random:7')
    >>> open_feed("krakn:BTC/USD")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: unknown exchange 'krakn': use a ccxt exchange id such as 'kraken', 'coinbase' or 'binance'. Did you mean: kraken?
    """
    if spec is None:
        spec = os.environ.get("JARVIS_FEED") or DEFAULT_SPEC
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"bad feed spec {spec!r}: {_SPEC_HELP}")
    spec = spec.strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind == "replay":
        if not arg:
            return ReplayFeed(**options)
        if arg in SAMPLES:
            return ReplayFeed(None, arg, **options)
        if arg.lower().endswith((".csv", ".csv.gz", ".txt")) or Path(arg).exists():
            return ReplayFeed(arg, **options)
        raise ConfigError(
            f"bad feed spec {spec!r}: 'replay:' takes a shipped symbol "
            f"({', '.join(SAMPLES)}) or a CSV path." + did_you_mean(arg, SAMPLES)
        )
    if kind == "candles":
        db = options.pop("db", None)
        frame = stored_candles(spec, db)
        _, symbol, _ = parse_candles_spec(spec)
        feed = ReplayFeed(frame, symbol, **options)
        feed.spec = spec
        return feed
    if kind == "random":
        try:
            seed = int(arg) if arg else 42
        except ValueError:
            raise ConfigError(f"bad feed spec {spec!r}: 'random:' takes an integer seed, e.g. random:7") from None
        return RandomWalkFeed(seed, **options)
    if arg:
        arg, _, query = arg.partition("?")
        symbol, at, timeframe = arg.partition("@")
        if at:
            options.setdefault("timeframe", check_timeframe(timeframe))
        for pair in filter(None, query.split("&")):
            key, _, value = pair.partition("=")
            if key == "stream":
                options.setdefault("stream", value)
            elif key == "poll":
                try:
                    options.setdefault("poll", float(value))
                except ValueError:
                    raise ConfigError(f"bad feed spec {spec!r}: poll={value!r} is not seconds") from None
            else:
                raise ConfigError(f"bad feed spec {spec!r}: unknown option {key!r}: use "
                                  "?stream=ws (websocket) or ?poll=SECONDS" + did_you_mean(key, ["stream", "poll"]))
        return ExchangeFeed(kind, symbol, **options)
    raise ConfigError(f"unknown feed spec {spec!r}: {_SPEC_HELP}" + did_you_mean(kind, ["replay", "random", "kraken"]))


_SPEC_HELP = (
    "use 'replay', 'replay:BTC/USD', 'replay:path.csv', 'random:SEED', "
    "'candles:EXCHANGE:BASE/QUOTE@TIMEFRAME' (stored by jarvis download) or "
    "'EXCHANGE:BASE/QUOTE[@TIMEFRAME]' (for example 'kraken:BTC/USD' or 'kraken:BTC/USD@1h')"
)
