"""Websocket streams for ``ExchangeFeed(..., stream="ws")``: ccxt.pro's ``watch_ohlcv`` /
``watch_ticker`` (the ccxt package includes them), with the REST feed as the safety net.

- Closed candles only, each once: a candle is final when the stream has moved on to a
  later one (Kraken's forming candle is never yielded), exactly as with REST polling.
- A dropped socket is reopened (ccxt reconnects on the next ``watch``); Kraken sends a
  snapshot of its recent candles on every subscription, so candles that closed while
  the socket was down still arrive, once.
- After ``ws_max_failures`` failures in a row the feed falls back to REST polling (which
  catches up from the last candle yielded), and tries the socket again after
  ``ws_retry`` seconds.
- ``await feed.close()`` closes the sockets and the HTTP session (no "Unclosed client
  session" warning).

>>> from jarvis_helpers import ExchangeFeed
>>> feed = ExchangeFeed("kraken", "BTC/USD", "1h", stream="ws")
>>> feed.spec, feed.stream, hasattr(feed.exchange, "watch_ohlcv")
('kraken:BTC/USD@1h', 'ws', True)
"""

from __future__ import annotations

import asyncio
import logging
import time

import pandas as pd

from .errors import ConfigError, did_you_mean
from .ticks import BadTick, Tick, to_utc

log = logging.getLogger("jarvis")


def build_ws_exchange(exchange_id: str, config: dict | None = None):
    """A ccxt.pro exchange (REST and websocket in one object) from its id."""
    import ccxt.pro as ccxt_pro

    if exchange_id not in ccxt_pro.exchanges:
        raise ConfigError(
            f"exchange {exchange_id!r} has no websocket support in ccxt: use stream='rest', or "
            "one of ccxt.pro.exchanges such as 'kraken'." + did_you_mean(exchange_id, ccxt_pro.exchanges))
    options = {"enableRateLimit": True}
    options.update(config or {})
    return getattr(ccxt_pro, exchange_id)(options)


def check_ws_exchange(exchange, timeframe: str) -> None:
    method, capability = (("watch_ticker", "watchTicker") if timeframe == "tick"
                          else ("watch_ohlcv", "watchOHLCV"))
    has = getattr(exchange, "has", None) or {}
    if not callable(getattr(exchange, method, None)) or not has.get(capability):
        raise ConfigError(
            f"{type(exchange).__name__} has no {method}: for stream='ws' give an exchange id or "
            "a ccxt.pro exchange object (ccxt.pro.kraken(...))")


async def next_tick(feed) -> Tick:
    """The next tick or closed candle from the socket, or from REST while it is down."""
    import ccxt

    while True:
        if feed._ready:
            return feed._ready.popleft()
        if feed._ws_down_since is not None:
            if time.monotonic() - feed._ws_down_since < feed.ws_retry:
                return await feed._rest_fetch()
            feed._ws_down_since, feed._ws_failures = None, 0  # try the socket again
            log.info("%s: trying the websocket again", feed.spec)
        try:
            if feed.timeframe == "tick":
                ticker = await feed.exchange.watch_ticker(feed.symbol)
            else:
                rows = await feed.exchange.watch_ohlcv(feed.symbol, feed.timeframe)
        except ccxt.NetworkError as exc:
            feed.ws_drops += 1
            feed._ws_failures += 1
            feed.last_ws_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            if feed._ws_failures >= feed.ws_max_failures:
                feed.ws_fallbacks += 1
                feed._ws_down_since = time.monotonic()
                log.warning("%s: websocket failed %d times (%s); polling REST for %.0fs",
                            feed.spec, feed._ws_failures, feed.last_ws_error, feed.ws_retry)
                await feed.exchange.close_ws_clients()
            else:
                delay = min(feed.ws_backoff[0] * 2 ** (feed._ws_failures - 1), feed.ws_backoff[1])
                log.warning("%s: websocket dropped (%s); reconnecting in %.1fs", feed.spec,
                            feed.last_ws_error, delay)
                await asyncio.sleep(delay)
            continue
        feed._ws_failures = 0
        feed.ws_messages += 1
        if feed.timeframe == "tick":
            return _ticker_tick(feed, ticker)
        # ccxt may hand back only the rows updated since the last call: read its whole
        # cache, where each candle holds its latest state, so a candle is seen closed.
        cache = (getattr(feed.exchange, "ohlcvs", None) or {}).get(feed.symbol, {}).get(feed.timeframe)
        feed.accept_rows(list(cache) if cache is not None else rows, feed._now_ms())


def _ticker_tick(feed, ticker) -> Tick:
    if not isinstance(ticker, dict):
        raise BadTick(f"{feed.spec}: the websocket sent {type(ticker).__name__}, not a ticker")
    price = ticker.get("last") if ticker.get("last") is not None else ticker.get("close")
    if price is None:
        raise BadTick(f"{feed.spec}: the websocket ticker has no last price")
    stamp = ticker.get("timestamp")
    return Tick(feed.symbol, to_utc(stamp) if stamp else pd.Timestamp.now(tz="UTC"), price)
