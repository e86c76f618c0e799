"""verify(): a bot's stored fills against a backtest of its recorded strategy on its bars."""

import asyncio
import shutil
import sqlite3

import pandas as pd
import pytest

from jarvis_helpers import Bot, ExchangeFeed, ReplayFeed, Store, load_sample
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.verify import verify

HOURS = load_sample("BTC/USD").iloc[:1500]  # real hourly candles, OHLCV


def run(store, name="v", n=None, strategy=None, params=None, source=HOURS):
    bot = Bot(ReplayFeed(source), store, name=name, interval=0, strategy=strategy, params=params)
    asyncio.run(bot.run(max_ticks=n))
    return bot


def test_a_replay_on_hourly_candles_verifies_identical(store_url):
    store = Store(store_url)
    run(store, n=700)
    run(store)  # resumed: the rest of the bars in a second run
    report = verify(store, "v")
    assert report.ok, str(report)
    assert report.bars == 1500 and report.fills == report.backtest_fills > 10
    assert "identical to the backtest of sma (short=10, long=20)" in str(report)
    stored = store.recent_ticks(2000, bot="v")
    pd.testing.assert_frame_equal(stored.drop(columns="symbol"), HOURS, check_freq=False)
    store.close()


@pytest.mark.parametrize("strategy,params", [("rsi", {"period": 7}), ("bollinger", None)])
def test_other_strategies_verify_identical(strategy, params, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    run(store, strategy=strategy, params=params)
    report = verify(store, "v")
    assert report.ok and report.fills > 0, str(report)
    store.close()


def _copy_with(tmp_path, statement):
    original = tmp_path / "live.sqlite"
    store = Store(original)
    run(store)
    fills = store.trades_frame("v")
    store.close()
    copy = tmp_path / "edited.sqlite"
    shutil.copy(original, copy)
    with sqlite3.connect(copy) as db:
        db.execute(statement)
    db.close()
    return original, copy, fills


def test_a_hand_edited_fill_is_reported_at_its_bar(tmp_path):
    original, copy, fills = _copy_with(
        tmp_path, "UPDATE jarvis_trades SET price = price + 1 WHERE id = "
                  "(SELECT id FROM jarvis_trades ORDER BY ts LIMIT 1 OFFSET 6)")
    assert verify(original, "v").ok  # the original is untouched and identical
    report = verify(copy, "v")
    assert not report.ok
    assert report.difference["time"] == fills.index[6]
    assert report.difference["what"] == "fill 7 differs in price"
    assert report.difference["live"]["price"] == fills["price"].iloc[6] + 1
    assert report.difference["backtest"]["price"] == fills["price"].iloc[6]
    assert f"differs first at {fills.index[6]}" in str(report)


def test_a_missing_fill_is_reported_at_its_bar(tmp_path):
    _, copy, fills = _copy_with(
        tmp_path, "DELETE FROM jarvis_trades WHERE id = "
                  "(SELECT id FROM jarvis_trades ORDER BY ts LIMIT 1 OFFSET 3)")
    report = verify(copy, "v")
    assert not report.ok and report.difference["time"] == fills.index[3]
    assert report.fills == len(fills) - 1


def test_a_strategy_changed_between_runs_is_refused(tmp_path):
    store = Store(tmp_path / "c.sqlite")
    run(store, n=400)
    before = store.trades_frame("v")
    with pytest.raises(ConfigError, match="strategy 'sma'.*now 'rsi'"):
        run(store, strategy="rsi")
    assert store.count_ticks("v") == 400 and store.trades_frame("v").equals(before)
    assert verify(store, "v").ok  # what was stored is still one strategy's, verifiably
    store.close()


def test_a_live_bot_on_closed_candles_verifies_identical(recorded_kraken, tmp_path):
    from recorded_exchange import HOUR_MS, RECORDED_AT_MS, TRADES_FROM_MS

    def move(n, url):
        if "OHLC" in url:
            exchange.clock = min(TRADES_FROM_MS + n * HOUR_MS // 2, RECORDED_AT_MS)

    exchange = recorded_kraken(config={"rateLimit": 1}, clock=TRADES_FROM_MS, on_request=move)
    store = Store(tmp_path / "live.sqlite")
    feed = ExchangeFeed(exchange, "BTC/USD", "1h", poll=0)
    feed.start_after("2020-09-28 00:00Z")  # catch up on the last two days first
    bot = Bot(feed, store, name="live", interval=0, strategy="sma", params={"short": 3, "long": 8})
    asyncio.run(bot.run(max_ticks=40))
    report = verify(store, "live")
    assert report.ok and report.bars == 40 and report.fills > 0, str(report)
    store.close()


def test_unknown_bot_names_the_bots(tmp_path):
    store = Store(tmp_path / "u.sqlite")
    run(store, name="alpha", n=50)
    with pytest.raises(ConfigError, match=r"no bot 'alpa'.*'alpha'.*Did you mean: alpha\?"):
        verify(store, "alpa")
    store.close()


def _user_strategy():
    """A class defined in a function, like one written in a notebook cell: the store knows
    only its name."""
    from jarvis_helpers import Strategy

    class Momentum(Strategy):
        lookback: int = 12

        @property
        def warmup(self) -> int:
            return self.lookback + 1

        def rules(self, candles):
            change = candles["close"].pct_change(self.lookback)
            return pd.DataFrame({"change": change, "enter": change > 0.01, "exit": change < -0.01},
                                index=candles.index)
    return Momentum


def test_a_strategy_of_your_own_is_given_to_verify(tmp_path):
    Momentum = _user_strategy()
    store = Store(tmp_path / "own.sqlite")
    bot = Bot(ReplayFeed(HOURS), store, name="own", interval=0, strategy=Momentum(lookback=8))
    asyncio.run(bot.run())
    with pytest.raises(ConfigError, match=r"strategy class of your own.*verify\(store, 'own', strategy=YourClass\)"):
        verify(store, "own")
    report = verify(store, "own", strategy=Momentum)  # the class: the stored parameters
    assert report.ok and report.fills > 0, str(report)
    assert verify(store, "own", strategy=Momentum(lookback=8)).ok
    with pytest.raises(ConfigError, match=r"ran with lookback=8 \(given 9\)"):
        verify(store, "own", strategy=Momentum(lookback=9))
    with pytest.raises(ConfigError, match=r"ran with strategy 'Momentum'.*given 'rsi'"):
        verify(store, "own", strategy="rsi")
    store.close()
