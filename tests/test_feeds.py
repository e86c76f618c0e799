"""Feeds: replay (sample, Kraken CSV, headed CSV), random walk, specs, and a real ccxt Kraken
answering from recorded responses."""

import asyncio

import ccxt
import pandas as pd
import pytest

from jarvis_helpers import ExchangeFeed, FeedExhausted, RandomWalkFeed, ReplayFeed, open_feed
from jarvis_helpers.errors import ConfigError


async def take(feed, n):
    return [await feed.fetch() for _ in range(n)]


def test_replay_defaults_to_the_shipped_kraken_sample():
    feed = ReplayFeed()
    first = asyncio.run(feed.fetch())
    assert (first.symbol, first.close) == ("BTC/USD", 6626.2)
    assert first.timestamp == pd.Timestamp("2018-10-01 00:00", tz="UTC")
    assert len(feed) > 17_000


def test_replay_of_a_kraken_csv_ends_with_feed_exhausted(tmp_path):
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text("1381093200,122.0,122.0,122.0,122.0,0.1,1\n1381176000,123.61,123.61,123.61,123.61,0.1,1\n")
    feed = open_feed(f"replay:{path}")
    ticks = asyncio.run(take(feed, 2))
    assert [t.close for t in ticks] == [122.0, 123.61]
    assert ticks[0].timestamp == pd.Timestamp(1381093200, unit="s", tz="UTC")
    assert feed.symbol == "BTC/USD"
    with pytest.raises(FeedExhausted):
        asyncio.run(feed.fetch())


def test_replay_of_a_headed_csv_and_a_dataframe(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("timestamp,close\n2024-01-01T00:00:00Z,10\n2024-01-01T00:01:00Z,11\n")
    assert [t.close for t in asyncio.run(take(ReplayFeed(path, "ETH/USD"), 2))] == [10.0, 11.0]
    frame = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.date_range("2024", periods=2, freq="h"))
    ticks = asyncio.run(take(ReplayFeed(frame, "ETH/USD"), 2))
    assert str(ticks[0].timestamp.tz) == "UTC"


def test_replay_continues_after_a_timestamp():
    feed = ReplayFeed()
    ticks = asyncio.run(take(feed, 10))
    resumed = ReplayFeed(start_after=ticks[6].timestamp)
    assert asyncio.run(resumed.fetch()) == ticks[7]


def test_random_walk_is_reproducible_and_resumable():
    a = asyncio.run(take(RandomWalkFeed(seed=3), 5000))
    b = asyncio.run(take(RandomWalkFeed(seed=3), 5000))
    assert a == b
    assert asyncio.run(take(RandomWalkFeed(seed=4), 1)) != a[:1]
    resumed = RandomWalkFeed(seed=3)
    resumed.start_after(a[4500].timestamp)
    assert asyncio.run(resumed.fetch()) == a[4501]


@pytest.mark.parametrize("spec,kind", [
    ("replay", ReplayFeed), ("replay:ETH/USD", ReplayFeed), ("random:7", RandomWalkFeed),
    ("random", RandomWalkFeed), ("kraken:BTC/USD", ExchangeFeed),
])
def test_open_feed_specs(spec, kind):
    feed = open_feed(spec)
    assert isinstance(feed, kind)
    asyncio.run(feed.close())


def test_open_feed_reads_the_environment(monkeypatch):
    monkeypatch.setenv("JARVIS_FEED", "random:5")
    assert open_feed().spec == "random:5"


@pytest.mark.parametrize("spec,match", [
    ("krakn:BTC/USD", "Did you mean: kraken"),
    ("replay:BTC/USDT", "Did you mean: BTC/USD"),
    ("nonsense", "unknown feed spec 'nonsense'"),
    ("random:abc", "integer seed"),
    ("kraken:BTCUSD", "BASE/QUOTE"),
    ("", "bad feed spec"),
])
def test_bad_specs_name_the_value_and_suggest(spec, match):
    with pytest.raises(ConfigError, match=match):
        open_feed(spec)


def test_exchange_feed_reads_a_recorded_kraken_ticker(recorded_kraken):
    exchange = recorded_kraken(config={"rateLimit": 5}, prices=[64000.5, 64010.0])

    async def go():
        feed = ExchangeFeed(exchange, "BTC/USD")
        before = pd.Timestamp.now(tz="UTC")
        ticks = await take(feed, 2)
        await feed.close()
        return before, ticks

    before, ticks = asyncio.run(go())
    assert [t.close for t in ticks] == [64000.5, 64010.0]
    # Kraken's ticker has no timestamp (defect 3): the receive time stands in, never NaT.
    assert all(t.timestamp >= before for t in ticks)
    assert ticks[1].timestamp > ticks[0].timestamp
    urls = [u for _, u in exchange.requests]
    assert sum("AssetPairs" in u for u in urls) == 1  # markets loaded once (defect 4)
    assert sum("Ticker" in u for u in urls) == 2  # one ticker call per tick
    assert exchange.closed


def test_exchange_feed_bad_symbol_is_a_clear_error(recorded_kraken):
    async def go():
        feed = ExchangeFeed(recorded_kraken(config={"rateLimit": 5}), "BTC/USDT")
        try:
            await feed.fetch()
        finally:
            await feed.close()

    with pytest.raises(ccxt.BadSymbol, match=r"kraken has no market 'BTC/USDT'\. Did you mean: BTC/USD"):
        asyncio.run(go())


def test_exchange_feed_builds_the_exchange_from_an_id():
    feed = ExchangeFeed("kraken", "BTC/USD")
    assert feed.exchange.enableRateLimit and feed.spec == "kraken:BTC/USD"
    asyncio.run(feed.close())
