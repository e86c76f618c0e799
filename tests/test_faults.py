"""Exchange faults: a real ccxt Kraken client answering from recorded responses, with
faults injected at its transport. The bot must keep going, retry with capped exponential
backoff inside ccxt's rate limit, store no bad price and no duplicate, count every fault
kind and show the last one; an ExchangeError stops it with a message saying what to fix.
"""

from __future__ import annotations

import asyncio
import json
import math
import random

import ccxt
import numpy as np
import pytest

from jarvis_helpers import Bot, ExchangeFeed, Store
from jarvis_helpers.data import load_sample
from recorded_exchange import FIXTURES, RecordedKraken

RATE_LIMIT_MS = 5
T0_MS = 1_700_000_000_000  # the recorded exchange's clock starts here, one second per answer

_TICKER = json.loads((FIXTURES / "Ticker_XXBTZUSD.json").read_text())


def ticker_body(last) -> str:
    """A Kraken ticker answer whose last price is ``last`` (any JSON value)."""
    answer = json.loads(json.dumps(_TICKER))
    answer["result"]["XXBTZUSD"]["c"][0] = last
    return json.dumps(answer)


class ClockedKraken(RecordedKraken):
    """RecordedKraken whose tickers carry the exchange's time (Kraken's real ticker has none).

    Request ``n`` is stamped ``T0 + n`` seconds, so good answers are strictly increasing;
    ``clock_fault`` set to "stale" stamps the next ticker an hour before the last good one
    (a clock going backwards), "repeat" sends the last good ticker again (same time, same
    price).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.clock_fault = None
        self.served: list[tuple[int, float]] = []  # (ms, price) of every good ticker sent

    def parse_ticker(self, ticker, market=None):
        result = super().parse_ticker(ticker, market)
        fault, self.clock_fault = self.clock_fault, None
        if fault == "repeat":
            stamp, result["last"] = self.served[-1]
            result["close"] = result["last"]
        elif fault == "stale":
            stamp = self.served[-1][0] - 3_600_000
        else:
            stamp = T0_MS + 1000 * len(self.requests)
            last = result["last"]
            if isinstance(last, float) and math.isfinite(last) and last > 0:
                self.served.append((stamp, last))
        result["timestamp"], result["datetime"] = stamp, self.iso8601(stamp)
        return result


# Each injected fault kind, how it is injected, and the bot's fault counter it must land in.
HTML_PAGE = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"
FAULTS = {
    "asyncio timeout": (lambda: asyncio.TimeoutError(), "timeout"),
    "ccxt RequestTimeout": (lambda: ccxt.RequestTimeout("kraken GET Ticker timed out"), "timeout"),
    "connection reset": (lambda: ccxt.NetworkError("kraken connection reset by peer"), "network"),
    "HTTP 429": (lambda: (429, "Too Many Requests"), "rate_limit"),
    "Kraken rate limit": (lambda: (200, json.dumps({"error": ["EAPI:Rate limit exceeded"]})),
                          "rate_limit"),
    "HTTP 503 HTML": (lambda: (503, HTML_PAGE), "exchange_not_available"),
    "Kraken busy": (lambda: (200, json.dumps({"error": ["EService:Unavailable"]})),
                    "exchange_not_available"),
    "HTML with 200": (lambda: (200, HTML_PAGE), "bad_tick"),
    "empty body": (lambda: (200, ""), "bad_tick"),
    "null price": (lambda: (200, ticker_body(None)), "bad_tick"),
    "negative price": (lambda: (200, ticker_body("-42.5")), "bad_tick"),
    "NaN price": (lambda: (200, ticker_body("NaN")), "bad_tick"),
    "zero price": (lambda: (200, ticker_body("0.00000")), "bad_tick"),
    "clock backwards": ("stale", "stale"),
    "same tick twice": ("repeat", "duplicate"),
}


def make_faults(exchange: ClockedKraken, rate: float, seed: int):
    """A fault schedule: each Ticker request faults with probability ``rate``, in turn
    through every kind first (then at random); clock faults only once a good tick exists."""
    rng = random.Random(seed)
    names = list(FAULTS)
    injected: list[tuple[int, str]] = []

    def faults(n, url):
        if "Ticker" not in url or not exchange.served or rng.random() >= rate:
            return None
        name = names[len(injected)] if len(injected) < len(names) else rng.choice(names)
        injected.append((n, name))
        how = FAULTS[name][0]
        if isinstance(how, str):
            exchange.clock_fault = how
            return None
        return how()

    return faults, injected


@pytest.fixture
def clocked_kraken(recorded_kraken):
    return lambda **kwargs: recorded_kraken(cls=ClockedKraken, config={"rateLimit": RATE_LIMIT_MS},
                                            **kwargs)


def test_500_fetches_with_30_percent_faults(store_url, clocked_kraken):
    exchange = clocked_kraken()
    faults, injected = make_faults(exchange, rate=0.3, seed=5)
    exchange.faults = faults
    store = Store(store_url)
    bot = Bot(ExchangeFeed(exchange, "BTC/USD"), store, name="faulty", interval=0,
              backoff=(0.001, 0.01))

    async def go():
        done = 0
        while len(exchange.requests) < 520:
            done += await bot.run(max_ticks=50)  # never raises: it kept going
            assert bot.status == "stopped"
        await bot.stop()
        return done

    try:
        done = asyncio.run(go())
        stored = store.recent_ticks(10_000, bot="faulty")
        count = store.count_ticks("faulty")
    finally:
        store.close()
    requests = exchange.requests
    ticker_requests = [t for t, url in requests if "Ticker" in url]
    assert len(ticker_requests) >= 500
    share = len(injected) / len(ticker_requests)
    assert 0.25 < share < 0.35, share

    # Every fault kind was injected and landed in its counter, exactly.
    assert {name for _, name in injected} == set(FAULTS)
    expected: dict[str, int] = {}
    for _, name in injected:
        expected[FAULTS[name][1]] = expected.get(FAULTS[name][1], 0) + 1
    assert dict(bot.faults) == expected
    retried = sum(v for k, v in expected.items() if k not in ("stale", "duplicate"))
    assert bot.retries == retried

    # The last fault is what the status shows.
    last_kind = FAULTS[injected[-1][1]][1]
    assert bot.last_error.startswith(last_kind), (bot.last_error, injected[-1])
    line = bot.status_line()
    assert f"last error: {bot.last_error}" in line and f"retries {retried}" in line

    # Stored: exactly the good ticks, in order, each once; no bad price.
    assert done == len(exchange.served) == len(stored) == count
    assert stored.index.is_unique and stored.index.is_monotonic_increasing
    assert [int(ts.value // 1_000_000) for ts in stored.index] == [ms for ms, _ in exchange.served]
    assert stored["close"].tolist() == [p for _, p in exchange.served]
    sample = set(load_sample("BTC/USD")["close"].round(5).tolist())
    assert set(stored["close"].round(5)) <= sample
    assert ((stored["close"] > 0) & stored["close"].map(math.isfinite)).all()

    # Never faster than ccxt's rate limit. ccxt's leaky bucket holds one token, so any
    # stretch of time T holds at most 2 + T / rateLimit requests (5 % slack for the clock),
    # whatever the retries did.
    times = np.array([t for t, _ in requests])
    span = times[None, :] - times[:, None]  # span[i, j] = t_j - t_i
    count = np.arange(len(times))[None, :] - np.arange(len(times))[:, None]
    later = count > 0
    allowed = 2 + span[later] / (0.95 * RATE_LIMIT_MS / 1000)
    assert (count[later] <= allowed).all(), int((count[later] - allowed).max())
    assert times[-1] - times[0] >= (len(times) - 2) * RATE_LIMIT_MS / 1000 * 0.95
    assert exchange.closed  # stop() closed the one exchange object


def test_backoff_is_exponential_and_capped(recorded_kraken):
    """Six failures in a row: waits of 40, 80 ms, then capped at 100 ms, then success."""
    exchange = recorded_kraken(config={"rateLimit": 1})
    bot = Bot(ExchangeFeed(exchange, "BTC/USD"), Store("sqlite://"), interval=0,
              backoff=(0.04, 0.1))

    async def go():
        await bot.step()  # markets and one good tick
        exchange.faults = _fail_next(exchange, 6)
        start = len(exchange.requests)
        event = await bot.step()
        return event, [t for t, _ in exchange.requests[start:]]

    event, times = asyncio.run(go())
    assert event is not None and bot.faults["network"] == 6
    gaps = [b - a for a, b in zip(times, times[1:])]
    expected = [0.04, 0.08, 0.1, 0.1, 0.1, 0.1]  # uncapped: 0.16, 0.32, 0.64, 1.28 after 0.08
    assert len(gaps) == 6
    for gap, want in zip(gaps, expected):
        assert gap >= 0.98 * want, (gaps, expected)
    assert sum(gaps) < sum(expected) + 0.3, gaps  # uncapped doubling would take 2.5 s


def _fail_next(exchange, count):
    first = len(exchange.requests)
    return lambda n, url: ccxt.NetworkError("kraken connection refused") if n < first + count else None


async def _run_until_error(bot):
    with pytest.raises(ccxt.ExchangeError) as info:
        await bot.run(max_ticks=10)
    await bot.stop()
    return info.value


def test_bad_symbol_stops_with_error_saying_what_to_fix(recorded_kraken, tmp_path):
    store = Store(tmp_path / "db.sqlite")
    bot = Bot(ExchangeFeed(recorded_kraken(config={"rateLimit": RATE_LIMIT_MS}), "BTC/USDT"), store, interval=0, backoff=(0.001, 0.01))
    asyncio.run(_run_until_error(bot))
    assert bot.status == "error"
    assert "no market 'BTC/USDT'" in bot.last_error and "Did you mean" in bot.last_error
    assert "BTC/USD" in bot.last_error and "BASE/QUOTE" in bot.last_error
    assert bot.retries == 0 and store.count_ticks() == 0
    assert "error" in bot.status_line() and bot.last_error in bot.status_line()


def _bot_whose_ticker_answers(recorded_kraken, error: str) -> Bot:
    """A bot on recorded Kraken whose every ticker request gets Kraken's ``error`` reply."""
    exchange = recorded_kraken(config={"rateLimit": RATE_LIMIT_MS})
    exchange.faults = lambda n, url: ((200, json.dumps({"error": [error]}))
                                      if "Ticker" in url else None)
    return Bot(ExchangeFeed(exchange, "BTC/USD"), Store("sqlite://"), interval=0)


def test_exchange_rejecting_the_pair_stops_with_error(recorded_kraken):
    bot = _bot_whose_ticker_answers(recorded_kraken, "EQuery:Unknown asset pair")
    exc = asyncio.run(_run_until_error(bot))
    assert isinstance(exc, ccxt.ExchangeError) and not isinstance(exc, ccxt.NetworkError)
    assert bot.status == "error" and bot.retries == 0
    assert "Unknown asset pair" in bot.last_error and "symbol" in bot.last_error.lower()


def test_authentication_failure_stops_with_error_saying_what_to_fix(recorded_kraken):
    bot = _bot_whose_ticker_answers(recorded_kraken, "EAPI:Invalid key")
    exc = asyncio.run(_run_until_error(bot))
    assert isinstance(exc, ccxt.AuthenticationError)
    assert bot.status == "error" and bot.retries == 0
    assert "Invalid key" in bot.last_error
    assert "JARVIS_API_KEY" in bot.last_error  # says which setting to fix


def test_started_bot_records_the_error_in_its_status(recorded_kraken):
    """In a notebook the bot runs as a task: the error lands in status, not in the void."""
    bot = Bot(ExchangeFeed(recorded_kraken(config={"rateLimit": RATE_LIMIT_MS}), "NOPE/USD"), Store("sqlite://"), interval=0)

    async def go():
        task = bot.start()
        await asyncio.wait([task])
        await bot.stop()

    asyncio.run(go())
    assert bot.status == "error" and "no market 'NOPE/USD'" in bot.last_error
