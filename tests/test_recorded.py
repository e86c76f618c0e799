"""jarvis_helpers.recorded: real ccxt exchange classes answering from shipped recordings."""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.async_support as ccxt_async
import pytest

from jarvis_helpers import ExchangeFeed
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.recorded import recorded_class, recorded_exchange
from tests.conftest import Heartbeat


def _run(coro):
    return asyncio.run(coro)


def test_async_class_is_ccxt_kraken_and_parses_the_recorded_ticker():
    async def go():
        exchange = recorded_exchange("kraken")
        try:
            ticker = await exchange.fetch_ticker("BTC/USD")
            return exchange, ticker
        finally:
            await exchange.close()

    exchange, ticker = _run(go())
    assert isinstance(exchange, ccxt_async.kraken)
    assert ticker["symbol"] == "BTC/USD" and ticker["last"] == 10776.1
    assert ticker["bid"] == 10776.0 and ticker["timestamp"] is None  # Kraken sends no time
    endpoints = [url.split("?")[0].rsplit("/", 1)[-1] for _, url in exchange.requests]
    assert endpoints[-1] == "Ticker" and "AssetPairs" in endpoints  # markets loaded for real
    assert exchange.closed and exchange.session is None


def test_blocking_class_is_ccxt_kraken_and_cycles_prices():
    exchange = recorded_exchange("kraken", asynchronous=False, prices=[1.5, 2.5])
    assert isinstance(exchange, ccxt.kraken) and not isinstance(exchange, ccxt_async.kraken)
    assert [exchange.fetch_ticker("BTC/USD")["last"] for _ in range(3)] == [1.5, 2.5, 1.5]


def test_a_closed_exchange_refuses_to_fetch():
    async def go():
        exchange = recorded_exchange("kraken")
        await exchange.fetch_ticker("BTC/USD")
        await exchange.close()
        with pytest.raises(ccxt.ExchangeClosedByUser):
            await exchange.fetch_ticker("BTC/USD")

    _run(go())


def test_faults_go_through_ccxts_error_mapping():
    def faults(n, url):
        if "Ticker" in url:
            return (503, "<html><body>Service Unavailable</body></html>")
        return None

    async def go():
        exchange = recorded_exchange("kraken", faults=faults)
        try:
            with pytest.raises(ccxt.ExchangeNotAvailable):
                await exchange.fetch_ticker("BTC/USD")
            exchange.faults = lambda n, url: ccxt.RequestTimeout("kraken timed out")
            with pytest.raises(ccxt.RequestTimeout):
                await exchange.fetch_ticker("BTC/USD")
        finally:
            await exchange.close()

    _run(go())


def test_unknown_pair_answer_is_kraken_s_error():
    exchange = recorded_exchange("kraken", asynchronous=False)
    with pytest.raises(ccxt.BadSymbol):
        exchange.fetch_ticker("NOPE/USD")


def test_latency_awaits_without_blocking_the_loop():
    async def go():
        exchange = recorded_exchange("kraken", latency=0.05)
        try:
            async with Heartbeat() as pulse:
                await exchange.fetch_ticker("BTC/USD")  # three requests: Assets, AssetPairs, Ticker
        finally:
            await exchange.close()
        return pulse.beats

    assert _run(go()) > 1


def test_exchange_feed_runs_on_a_recorded_exchange():
    async def go():
        feed = ExchangeFeed(recorded_exchange("kraken", prices=[6626.2, 6609.9]), "BTC/USD")
        try:
            return [(await feed.fetch()).close for _ in range(2)]
        finally:
            await feed.close()

    assert _run(go()) == [6626.2, 6609.9]


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match="'binanse'.*kraken"):
        recorded_class("binanse")
    with pytest.raises(ConfigError, match="latency -1"):
        recorded_exchange("kraken", latency=-1)
    with pytest.raises(ConfigError, match="prices is empty"):
        recorded_exchange("kraken", prices=[])
