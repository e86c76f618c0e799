"""Closed candles from a live exchange: each once, after it closed, never the forming one.

A real ``ccxt.async_support.kraken`` answers from Kraken's recorded OHLC body (its last
row the still-forming hour), with the exchange's clock moved by the test.
"""

import asyncio
import json

import pandas as pd
import pytest

from jarvis_helpers import Bot, ExchangeFeed, Store, open_feed
from jarvis_helpers.errors import ConfigError
from recorded_exchange import FIXTURES, HOUR_MS, RECORDED_AT_MS

OHLC = json.loads((FIXTURES / "OHLC_XXBTZUSD_60.json").read_text())["result"]["XXBTZUSD"]
FORMING = OHLC[-1]
T12 = 1601467200_000  # 2020-09-30 12:00 UTC


def recorded_row(ms):
    """The recorded closed OHLC row for an open time, as the values a Tick carries."""
    row = next(r for r in OHLC[:-1] if r[0] * 1000 == ms)
    return [float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[6])]


def bar(tick):
    return [tick.open, tick.high, tick.low, tick.close, tick.volume]


def test_the_forming_candle_is_never_yielded(recorded_kraken):
    exchange = recorded_kraken(config={"rateLimit": 1})

    async def go():
        feed = ExchangeFeed(exchange, "BTC/USD", "1h", poll=0)
        tick = await feed.fetch()
        await feed.close()
        return feed, tick

    feed, tick = asyncio.run(go())
    # the clock is 23:30: the newest closed candle is 22:00 (23:00 is still forming)
    assert tick.timestamp == pd.Timestamp("2020-09-30 22:00", tz="UTC")
    assert bar(tick) == recorded_row(tick.timestamp.value // 1_000_000)
    assert feed._forming_ms == FORMING[0] * 1000
    assert exchange.closed


def test_each_candle_once_as_the_clock_moves(recorded_kraken):
    """Polled every 20 minutes of exchange time from 14:10: every hour once, in order, each
    equal to Kraken's final row for it (not the partial one seen while it formed)."""

    def tick_clock(n, url):
        if "OHLC" in url:
            exchange.clock = min(T12 + 2 * HOUR_MS + 10 * 60_000 + n * 20 * 60_000, RECORDED_AT_MS)

    exchange = recorded_kraken(config={"rateLimit": 1}, clock=T12, on_request=tick_clock)

    async def go():
        feed = ExchangeFeed(exchange, "BTC/USD", "1h", poll=0)
        got = [await feed.fetch() for _ in range(9)]
        polls = feed.polls
        await feed.close()
        return got, polls

    got, polls = asyncio.run(go())
    hours = [t.timestamp for t in got]
    assert hours == list(pd.date_range("2020-09-30 13:00", "2020-09-30 21:00", freq="h", tz="UTC"))
    assert [bar(t) for t in got] == [recorded_row(h.value // 1_000_000) for h in hours]
    assert polls > 9  # most polls found only the forming candle, and yielded nothing


def test_a_resumed_feed_catches_up_from_where_it_stopped(recorded_kraken):
    exchange = recorded_kraken(config={"rateLimit": 1})

    async def go():
        feed = ExchangeFeed(exchange, "BTC/USD", "1h", poll=0)
        feed.start_after("2020-09-30 18:00Z")
        got = [await feed.fetch() for _ in range(4)]
        await feed.close()
        return got

    got = asyncio.run(go())
    assert [str(t.timestamp) for t in got] == [
        f"2020-09-30 {h}:00:00+00:00" for h in (19, 20, 21, 22)]


def test_gaps_stay_gaps_and_stale_answers_are_not_repeated():
    feed = ExchangeFeed("kraken", "BTC/USD", "1h")
    h = HOUR_MS
    first = feed.accept_rows([[0, 1, 2, 1, 2, 5], [h, 2, 3, 2, 3, 1], [2 * h, 3, 3, 3, 3, 0]], 2 * h + 5)
    assert [t.timestamp.value // 1_000_000 for t in first] == [h]  # newest closed only
    # 2h and 3h had no trade: the answer jumps to 4h; 5h is forming
    later = feed.accept_rows([[h, 2, 3, 2, 3, 1], [4 * h, 4, 4, 4, 4, 2], [5 * h, 5, 5, 5, 5, 0]],
                             5 * h + 5)
    assert [t.timestamp.value // 1_000_000 for t in later] == [4 * h]
    assert feed.accept_rows([[h, 2, 3, 2, 3, 1], [4 * h, 4, 4, 4, 4, 2]], 4 * h + 5) == []
    # Kraken's last row is forming whatever the clock says; elsewhere a last row whose
    # period has ended (an answer without a forming row) is closed
    assert feed.accept_rows([[5 * h, 5, 6, 5, 6, 3]], 6 * h) == []
    other = ExchangeFeed("binance", "BTC/USDT", "1h")
    other.start_after(pd.Timestamp(4 * h, unit="ms", tz="UTC"))
    assert [t.close for t in other.accept_rows([[5 * h, 5, 6, 5, 6, 3]], 6 * h)] == [6.0]
    assert other.accept_rows([[6 * h, 6, 6, 6, 6, 1]], 6 * h + 5) == []


def test_polls_are_paced_by_the_timeframe_and_the_rate_limit(recorded_kraken):
    exchange = recorded_kraken(config={"rateLimit": 1000}, clock=T12 + 10 * 60_000)
    feed = ExchangeFeed(exchange, "BTC/USD", "1h")
    assert feed.next_wait() == 1.0  # nothing known yet: the rate limit
    feed.accept_rows([[T12 - HOUR_MS, 1, 1, 1, 1, 1], [T12, 1, 1, 1, 1, 1]], exchange.clock)
    assert feed.next_wait() == ExchangeFeed.MAX_POLL  # 50 minutes to the close: capped
    exchange.clock = T12 + HOUR_MS - 30_000
    assert feed.next_wait() == 30 + ExchangeFeed.SETTLE  # just after the close
    exchange.clock = T12 + HOUR_MS + 60_000
    assert feed.next_wait() == 1.0  # overdue: as soon as the rate limit allows


def test_specs_and_bad_timeframes():
    feed = open_feed("kraken:BTC/USD@1h")
    assert (feed.timeframe, feed.symbol, feed.spec) == ("1h", "BTC/USD", "kraken:BTC/USD@1h")
    assert open_feed("kraken:BTC/USD").timeframe == "tick"
    with pytest.raises(ConfigError, match=r"bad timeframe '1H'.*Did you mean: 1h\?"):
        open_feed("kraken:BTC/USD@1H")
    with pytest.raises(ConfigError, match="bad stream 'websocket'"):
        ExchangeFeed("kraken", "BTC/USD", "1h", stream="websocket")


def test_a_bot_on_hourly_candles_stores_them_with_ohlcv(recorded_kraken, store_url):
    def tick_clock(n, url):
        if "OHLC" in url:
            exchange.clock = min(T12 + 30 * 60_000 + n * 30 * 60_000, RECORDED_AT_MS)

    exchange = recorded_kraken(config={"rateLimit": 1}, clock=T12, on_request=tick_clock)
    store = Store(store_url)
    bot = Bot(ExchangeFeed(exchange, "BTC/USD", "1h", poll=0), store, name="hourly", interval=0)
    asyncio.run(bot.run(max_ticks=6))
    stored = store.recent_ticks(100, bot="hourly")
    assert len(stored) == 6 and stored.index.is_unique
    assert stored.index[0] == pd.Timestamp("2020-09-30 12:00", tz="UTC")
    for ts, row in stored.iterrows():
        assert row[["open", "high", "low", "close", "volume"]].tolist() == recorded_row(ts.value // 1_000_000)
    assert pd.Timestamp(FORMING[0], unit="s", tz="UTC") not in stored.index
    store.close()


def test_a_candle_bot_survives_exchange_faults(recorded_kraken, tmp_path):
    """Timeouts and rate limits on the OHLC requests: retried, and every hour stored once."""
    import ccxt

    faults = {3: ccxt.RequestTimeout("kraken GET OHLC timed out"),
              4: ccxt.RateLimitExceeded("kraken {\"error\":[\"EAPI:Rate limit exceeded\"]}"),
              9: ccxt.ExchangeNotAvailable("kraken {\"error\":[\"EService:Unavailable\"]}")}

    def tick_clock(n, url):
        if "OHLC" in url:
            exchange.clock = min(T12 + 30 * 60_000 + n * 20 * 60_000, RECORDED_AT_MS)

    exchange = recorded_kraken(config={"rateLimit": 1}, clock=T12, on_request=tick_clock,
                               faults=lambda n, url: faults.get(n))
    store = Store(tmp_path / "faults.sqlite")
    bot = Bot(ExchangeFeed(exchange, "BTC/USD", "1h", poll=0), store, name="faulty", interval=0,
              backoff=(0.001, 0.01))
    asyncio.run(bot.run(max_ticks=8))
    assert sum(bot.faults.values()) == 3 and bot.status != "error"
    stored = store.recent_ticks(100, bot="faulty")
    assert list(stored.index) == list(pd.date_range("2020-09-30 12:00", periods=8, freq="h", tz="UTC"))
    for ts, row in stored.iterrows():
        assert row[["open", "high", "low", "close", "volume"]].tolist() == recorded_row(ts.value // 1_000_000)
    store.close()


def test_spec_options_choose_the_websocket_and_the_pace():
    feed = open_feed("kraken:BTC/USD@1h?stream=ws&poll=5")
    assert (feed.stream, feed.poll, feed.timeframe) == ("ws", 5.0, "1h")
    with pytest.raises(ConfigError, match=r"unknown option 'steam'.*Did you mean: stream\?"):
        open_feed("kraken:BTC/USD@1h?steam=ws")
    with pytest.raises(ConfigError, match="bad stream 'socket'"):
        open_feed("kraken:BTC/USD?stream=socket")
