"""Websocket candles: ccxt.pro's kraken against a real websocket server on 127.0.0.1 that
speaks Kraken's v2 protocol from recorded messages (tests/ws_kraken.py); REST answers
(markets, the fallback) from the recorded bodies."""

import asyncio
import json

import ccxt.pro
import pandas as pd
import pytest
from ws_kraken import KrakenWsServer, recorded_messages

from jarvis_helpers import Bot, ExchangeFeed, Store
from jarvis_helpers.errors import ConfigError
from recorded_exchange import FIXTURES, RecordedKraken

OHLC = json.loads((FIXTURES / "OHLC_XXBTZUSD_60.json").read_text())["result"]["XXBTZUSD"]
HOURS = pd.date_range("2020-09-30 12:00", "2020-09-30 22:00", freq="h", tz="UTC")


class RecordedKrakenWs(RecordedKraken, ccxt.pro.kraken):
    """ccxt.pro's kraken: websocket to the local server, REST from the recorded bodies."""

    def __init__(self, url, **kwargs):
        super().__init__(**kwargs)
        self.urls["api"]["ws"]["publicV2"] = url


def final_row(ts):
    row = next(r for r in OHLC if r[0] == ts.value // 10**9)
    return [float(row[1]), float(row[2]), float(row[3]), float(row[4]), float(row[6])]


def bar(t):
    return [t.open, t.high, t.low, t.close, t.volume]


def make_feed(url, **kwargs):
    exchange = RecordedKrakenWs(url, config={"rateLimit": 1})
    feed = ExchangeFeed(exchange, "BTC/USD", "1h", stream="ws", poll=0,
                        ws_backoff=(0.01, 0.05), **kwargs)
    feed.start_after("2020-09-30 11:00Z")
    return exchange, feed


async def take(feed, n):
    got = [await feed.fetch() for _ in range(n)]
    await feed.close()
    return got


def test_closed_candles_from_the_socket_each_once():
    async def go():
        server = KrakenWsServer()
        exchange, feed = make_feed(await server.start())
        got = await take(feed, 11)
        await server.stop()
        return server, exchange, feed, got

    server, exchange, feed, got = asyncio.run(go())
    assert [t.timestamp for t in got] == list(HOURS)
    assert [bar(t) for t in got] == [final_row(h) for h in HOURS]  # Kraken's final rows
    assert server.subscriptions == [{"channel": "ohlc", "symbol": ["BTC/USD"], "interval": 60}]
    assert feed.ws_drops == 0 and feed.polls == 0  # no REST candle request at all
    assert not any("OHLC" in u for _, u in exchange.requests)
    assert exchange.closed


def test_drops_mid_stream_reconnect_and_lose_nothing():
    async def go():
        # the socket drops three times; each time a few updates pass while it is away
        server = KrakenWsServer(drops=(20, 50, 95), missed=6)
        exchange, feed = make_feed(await server.start())
        got = await take(feed, 11)
        await server.stop()
        return server, feed, got

    server, feed, got = asyncio.run(go())
    assert server.connections == 4 and feed.ws_drops == 3 and feed.ws_fallbacks == 0
    assert [t.timestamp for t in got] == list(HOURS)
    assert [bar(t) for t in got] == [final_row(h) for h in HOURS]


def test_a_socket_that_keeps_failing_falls_back_to_rest():
    async def go():
        server = KrakenWsServer(refuse=1000)
        exchange, feed = make_feed(await server.start(), ws_max_failures=3)
        got = await take(feed, 3)
        await server.stop()
        return server, exchange, feed, got

    server, exchange, feed, got = asyncio.run(go())
    assert feed.ws_fallbacks == 1 and feed.ws_drops == 3 and server.refused == 3
    assert "503" in feed.last_ws_error, feed.last_ws_error
    assert [t.timestamp for t in got] == list(HOURS[:3])  # from REST, catching up
    assert [bar(t) for t in got] == [final_row(h) for h in HOURS[:3]]
    assert any("OHLC" in u for _, u in exchange.requests)


def test_a_bot_on_the_socket_survives_three_drops(tmp_path):
    async def go(store):
        server = KrakenWsServer(drops=(15, 60, 110), missed=4)
        exchange, feed = make_feed(await server.start())
        bot = Bot(feed, store, name="ws", interval=0)
        await bot.run(max_ticks=11)
        await bot.stop()
        await server.stop()
        return server, exchange, feed

    store = Store(tmp_path / "ws.sqlite")
    server, exchange, feed = asyncio.run(go(store))
    assert feed.ws_drops == 3 and server.connections == 4
    stored = store.recent_ticks(100, bot="ws")
    assert list(stored.index) == list(HOURS)  # nothing lost, nothing twice
    assert stored[["open", "high", "low", "close", "volume"]].values.tolist() == [final_row(h) for h in HOURS]
    assert exchange.closed
    store.close()


def test_stopping_a_bot_waiting_on_the_socket_closes_it_cleanly(tmp_path):
    """Stop while ``watch_ohlcv`` waits: no task left, no unclosed session (warnings are
    errors here, so an "Unclosed client session" would fail the test)."""
    async def go(store):
        server = KrakenWsServer(pace=0.05)
        exchange, feed = make_feed(await server.start())
        bot = Bot(feed, store, name="stop", interval=0)
        bot.start()
        while bot.ticks < 1:
            await asyncio.sleep(0.01)
        await bot.stop()
        await server.stop()
        return exchange, bot

    store = Store(tmp_path / "stop.sqlite")
    exchange, bot = asyncio.run(go(store))
    assert exchange.closed and not exchange.clients and bot.status == "stopped"
    store.close()


def test_ws_needs_a_websocket_exchange(recorded_kraken):
    with pytest.raises(ConfigError, match="has no watch_ohlcv"):
        ExchangeFeed(recorded_kraken(), "BTC/USD", "1h", stream="ws")
    feed = ExchangeFeed("kraken", "BTC/USD", "tick", stream="ws")
    assert callable(feed.exchange.watch_ticker)


def test_ticks_from_the_ticker_channel_survive_a_drop():
    messages = [m for m in recorded_messages() if m.get("channel") == "ohlc"][:30]

    async def go():
        server = KrakenWsServer(messages, drops=(12,), pace=0.01)
        exchange = RecordedKrakenWs(await server.start(), config={"rateLimit": 1})
        feed = ExchangeFeed(exchange, "BTC/USD", "tick", stream="ws", ws_backoff=(0.01, 0.05))
        got = [await feed.fetch() for _ in range(20)]
        await feed.close()
        await server.stop()
        return server, feed, got

    server, feed, got = asyncio.run(go())
    assert server.subscriptions[0]["channel"] == "ticker" and feed.ws_drops == 1
    # each tick is a ticker the server sent, in order, none twice (a ticker is the latest
    # price: one that is superseded before it is read may be skipped, never repeated)
    sent = [m["data"][0]["close"] for m in messages]
    at, positions = 0, []
    for t in got:
        at = sent.index(t.close, at)
        positions.append(at)
        at += 1
    assert positions == sorted(set(positions)) and positions[-1] < len(sent)
    assert all(str(t.timestamp.tz) == "UTC" for t in got)
