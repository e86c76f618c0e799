"""The Bot: persistence before action, resume from the Store, start/stop on a running loop,
retries on network errors, a clear stop on exchange errors."""

import asyncio

import ccxt
import pytest

from jarvis_helpers import Bot, ExchangeFeed, ReplayFeed, Store, load_sample
from jarvis_helpers.errors import ConfigError

SAMPLE = load_sample("BTC/USD").iloc[:3000]


def make_bot(url, **kw):
    kw.setdefault("interval", 0)
    return Bot(ReplayFeed(SAMPLE), Store(url), **kw)


def test_run_stores_every_tick_and_trade(store_url):
    bot = make_bot(store_url)
    assert asyncio.run(bot.run()) == 3000
    summary = bot.summary()
    assert summary["ticks"] == 3000 == bot.store.count_ticks("jarvis")
    assert summary["trades"] == len(bot.store.trades("jarvis")) > 50
    assert bot.status == "stopped"
    assert set(summary) == {"ticks", "trades", "cash", "position", "equity"}


def test_resume_in_pieces_equals_one_run(store_url, tmp_path):
    whole = make_bot(f"sqlite:///{tmp_path / 'whole.sqlite'}")
    asyncio.run(whole.run())
    for n in (7, 500, 1234, None):  # a new Bot object each time, as after a crash
        asyncio.run(make_bot(store_url).run(max_ticks=n))
    pieces = make_bot(store_url)
    assert pieces.summary() == whole.summary()
    assert pieces.store.trades("jarvis") == whole.store.trades("jarvis")


def test_resume_refuses_other_settings(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.sqlite'}"
    asyncio.run(make_bot(url).run(max_ticks=10))
    with pytest.raises(ConfigError, match="short=10 \\(now 5\\)"):
        asyncio.run(make_bot(url, short=5).run(max_ticks=10))
    assert Store(url).count_ticks("jarvis") == 10  # nothing lost


def test_listeners_see_every_tick_and_a_broken_one_does_not_stop_the_bot(tmp_path):
    bot = make_bot(f"sqlite:///{tmp_path / 'l.sqlite'}")
    seen = []
    bot.subscribe(seen.append)
    bot.subscribe(lambda event: 1 / 0)
    asyncio.run(bot.run(max_ticks=100))
    assert len(seen) == 100 and seen[-1].ticks == 100
    assert bot.faults["listener"] == 100 and "ZeroDivisionError" in bot.last_error
    assert [e.trade for e in seen if e.trade] == bot.store.trades("jarvis")


def test_start_runs_on_the_running_loop_once_and_stop_is_clean(tmp_path):
    feed = ReplayFeed(SAMPLE)
    closed = []
    original_close = feed.close

    async def close():
        closed.append(True)
        await original_close()

    feed.close = close
    bot = Bot(feed, Store(f"sqlite:///{tmp_path / 's.sqlite'}"), interval=0.001)

    async def go():
        task = bot.start()
        assert bot.start() is task  # a second Start does not start a second loop
        await asyncio.sleep(0.2)
        assert bot.status == "running" and bot.ticks > 0
        await bot.stop()
        return task

    task = asyncio.run(go())
    assert task.done() and bot.status == "stopped" and closed
    assert bot.store.count_ticks("jarvis") == bot.ticks  # everything acted on is stored


def test_start_without_a_running_loop_explains():
    bot = Bot(ReplayFeed(SAMPLE), Store("sqlite://"))
    with pytest.raises(RuntimeError, match="asyncio.run"):
        bot.start()


def test_a_bad_argument_to_start_shows_in_the_status_not_lost_in_the_task():
    bot = Bot(ReplayFeed(SAMPLE), Store("sqlite://"), interval=0)

    async def go():
        task = bot.start(max_ticks=-1)
        with pytest.raises(ConfigError):
            await task
        return bot.status, bot.last_error

    status, error = asyncio.run(go())
    assert status == "error"
    assert error.startswith("max_ticks -1: give a whole number, at least 0")


def test_network_errors_are_retried_with_backoff(recorded_kraken, tmp_path):
    failures = {2, 3, 4, 7}  # request numbers (0 = Assets, 1 = AssetPairs)

    def faults(n, url):
        if n in failures:
            return ccxt.NetworkError("connection reset by peer")
        return None

    exchange = recorded_kraken(config={"rateLimit": 1}, faults=faults)
    bot = Bot(ExchangeFeed(exchange, "BTC/USD"), Store(f"sqlite:///{tmp_path / 'n.sqlite'}"),
              interval=0, backoff=(0.001, 0.004))
    assert asyncio.run(bot.run(max_ticks=5)) == 5
    assert bot.faults["network"] == 4 and bot.retries == 4
    assert "connection reset" in bot.last_error
    assert bot.store.count_ticks("jarvis") == 5


def test_exchange_errors_stop_the_bot_with_a_clear_status(recorded_kraken, tmp_path):
    exchange = recorded_kraken(config={"rateLimit": 1})
    bot = Bot(ExchangeFeed(exchange, "DOGE/USD"), Store(f"sqlite:///{tmp_path / 'e.sqlite'}"),
              interval=0)

    async def go():
        bot.start()
        await asyncio.sleep(0.3)
        return bot.status, bot.last_error

    status, error = asyncio.run(go())
    assert status == "error"
    assert "no market 'DOGE/USD'" in error
    assert "error" in bot.status_line()
