"""Research on downloaded candles: backtest, sweep, check_strategy and the replay feed
take what the Store holds (``store.candles(...)`` or the ``candles:`` feed spec)."""

import asyncio

import pandas as pd
import pytest

from jarvis_helpers import Bot, Store, backtest, check_strategy, open_feed, sweep
from jarvis_helpers.data import load_sample, stored_candles
from jarvis_helpers.download import download
from jarvis_helpers.errors import ConfigError

SPEC = "candles:kraken:BTC/USD@1h"


@pytest.fixture
def downloaded(recorded_kraken, tmp_path):
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    store = Store(url)
    download(recorded_kraken(config={"rateLimit": 1}), "BTC/USD", "1h", store=store, progress=False)
    yield url, store
    store.close()


def test_backtest_sweep_and_check_take_stored_candles(downloaded):
    url, store = downloaded
    candles = store.candles("kraken", "BTC/USD", "1h")
    assert len(candles) == 719
    result = backtest(candles, "rsi")
    # the same bars from a CSV-like frame give the same result: stored candles are plain data
    again = backtest(candles.reset_index().rename(columns={"timestamp": "timestamp"}), "rsi")
    assert result.stats["final_equity"] == again.stats["final_equity"]
    assert result.stats["n_trades"] == again.stats["n_trades"] > 0
    table = sweep(candles, "sma", grid={"short": [5, 10], "long": [20, 40]})
    assert len(table) == 4
    report = check_strategy("sma", candles)
    assert report.ok, report.problems
    assert stored_candles(SPEC, url).equals(candles)


def test_the_candles_spec_replays_stored_bars_with_ohlcv(downloaded, monkeypatch):
    url, store = downloaded
    feed = open_feed(SPEC, db=url)
    assert feed.spec == SPEC and feed.symbol == "BTC/USD" and len(feed) == 719
    first = asyncio.run(feed.fetch())
    row = store.candles("kraken", "BTC/USD", "1h").iloc[0]
    assert [first.open, first.high, first.low, first.close, first.volume] == row.tolist()
    monkeypatch.setenv("JARVIS_DB", url)  # the database from the environment, as the CLI does
    bot = Bot(SPEC, Store(url), name="research", interval=0)
    asyncio.run(bot.run())
    ticks = bot.store.recent_ticks(1000, bot="research")
    pd.testing.assert_frame_equal(ticks.drop(columns="symbol"), store.candles("kraken", "BTC/USD", "1h"),
                                  check_freq=False)
    bot.store.close()


def test_nothing_stored_says_how_to_download(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    store = Store(url)
    store.write_candles("kraken", "ETH/USD", "1h", load_sample("ETH/USD").iloc[:3])
    with pytest.raises(ConfigError, match=r"no stored candles for 'candles:kraken:BTC/USD@1h'.*"
                                          r"jarvis download --exchange kraken --symbol BTC/USD.*"
                                          r"Stored: candles:kraken:ETH/USD@1h"):
        open_feed(SPEC, db=store)
    with pytest.raises(ConfigError, match="bad timeframe '2h'"):
        open_feed("candles:kraken:BTC/USD@2h", db=store)
    store.close()
