"""The vectorised backtest: same trades and equity as the live bot, hand-checked figures,
and friendly errors."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_helpers import Bot, PaperAccount, ReplayFeed, Store, backtest, load_sample
from jarvis_helpers.backtest import BacktestResult, sweep, sweep_heatmap
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.signals import SmaCrossover

HOURS = pd.date_range("2020-01-01", periods=12, freq="h", tz="UTC")
# short=2, long=4: the signal turns on at 3.0 (bar 6) and off at 4.0 (bar 11)
UP_DOWN = pd.Series([5, 4, 3, 2, 1, 2, 3, 4, 5, 6, 5, 4], index=HOURS, dtype=float)


@pytest.fixture(scope="module")
def sample():
    return load_sample("BTC/USD")


@pytest.fixture(scope="module")
def result(sample):
    return backtest(sample)


def test_matches_the_event_driven_bot_on_the_sample(sample, result, tmp_path):
    store = Store(f"sqlite:///{tmp_path}/x.sqlite")
    bot = Bot(ReplayFeed(), store, interval=0)
    asyncio.run(bot.run())
    ledger = store.trades(bot.name)
    summary = bot.summary()
    assert summary["ticks"] == len(sample)
    assert len(ledger) == result.stats["n_fills"] == len(result.fills) > 500
    assert [t.timestamp for t in ledger] == list(result.fills.index)
    assert [t.side for t in ledger] == result.fills["side"].tolist()
    np.testing.assert_allclose([t.price for t in ledger], result.fills["price"], rtol=0)
    np.testing.assert_allclose([t.units for t in ledger], result.fills["units"], rtol=1e-9)
    np.testing.assert_allclose([t.fee for t in ledger], result.fills["fee"], rtol=1e-9)
    assert summary["equity"] == pytest.approx(result.stats["final_equity"], rel=1e-9)
    assert summary["position"] == pytest.approx(result.fills["position"].iloc[-1], rel=1e-9)


def test_matches_an_account_loop_on_the_sample(sample, result):
    """The same trading, one tick at a time through SmaCrossover + PaperAccount."""
    strategy, account = SmaCrossover(10, 20), PaperAccount(10_000)
    equity = []
    for ts, price in sample["close"].items():
        account.fill(strategy.update(price).entry_exit, "BTC/USD", ts, price)
        equity.append(account.equity(price))
    np.testing.assert_allclose(result.equity.to_numpy(), equity, rtol=1e-9)
    assert account.trades == result.stats["n_fills"]


def test_hand_computed_round_trip_without_fee():
    r = backtest(UP_DOWN, short=2, long=4, cash=90, fee=0)
    assert isinstance(r, BacktestResult)
    row = r.trades.iloc[0]
    assert len(r.trades) == 1
    assert (row.entry_time, row.exit_time) == (HOURS[6], HOURS[11])
    assert (row.entry_price, row.exit_price, row.units) == (3.0, 4.0, 30.0)
    assert (row.pnl, row.fees, row.bars, row.status) == (30.0, 0.0, 5, "closed")
    assert r.equity.tolist() == [90.0] * 7 + [120.0, 150.0, 180.0, 150.0, 120.0]
    s = r.stats
    assert s["final_equity"] == 120.0 and s["total_return"] == pytest.approx(1 / 3)
    assert s["n_trades"] == 1 and s["n_fills"] == 2 and s["win_rate"] == 1.0
    assert s["exposure"] == pytest.approx(5 / 12)  # in the market from bar 6 to bar 10
    assert s["max_drawdown"] == pytest.approx(120 / 180 - 1)
    assert s["max_drawdown_start"] == HOURS[9].isoformat()
    assert s["max_drawdown_end"] == HOURS[11].isoformat()
    assert s["buy_hold_return"] == pytest.approx(4 / 5 - 1)
    assert str(r.equity.index.tz) == "UTC"


def test_hand_computed_fees():
    fee = 0.01
    r = backtest(UP_DOWN, short=2, long=4, cash=90, fee=fee)
    units = 90 / (3 * (1 + fee))
    cash_after = units * 4 * (1 - fee)
    assert r.fills["units"].tolist() == pytest.approx([units, units])
    assert r.fills["fee"].tolist() == pytest.approx([units * 3 * fee, units * 4 * fee])
    assert r.fills["cash"].tolist() == pytest.approx([0.0, cash_after])
    assert r.stats["final_equity"] == pytest.approx(cash_after)
    assert r.stats["fees_paid"] == pytest.approx(units * 7 * fee)
    assert r.trades["pnl"].iloc[0] == pytest.approx(cash_after - 90)
    # buy and hold pays the entry fee too
    assert r.stats["buy_hold_return"] == pytest.approx(90 / (5 * (1 + fee)) * 4 / 90 - 1)


def test_fees_change_the_story(sample):
    free, paid = backtest(sample, fee=0), backtest(sample, fee=0.0026)
    assert free.fills.index.equals(paid.fills.index)  # same signals, same fill times
    assert free.stats["fees_paid"] == 0.0
    assert paid.stats["fees_paid"] > 0
    assert paid.stats["final_equity"] < free.stats["final_equity"]


def test_no_trade_on_a_flat_market():
    flat = pd.Series(100.0, index=pd.date_range("2020-01-01", periods=50, freq="h", tz="UTC"))
    r = backtest(flat)
    assert r.trades.empty and r.fills.empty
    assert list(r.trades.columns)[:4] == ["entry_time", "entry_price", "exit_time", "exit_price"]
    assert (r.equity == 10_000).all()
    s = r.stats
    assert (s["n_trades"], s["n_fills"], s["final_equity"], s["total_return"]) == (0, 0, 10_000.0, 0.0)
    assert s["win_rate"] is None and s["sharpe"] is None
    assert s["max_drawdown"] == 0.0 and s["max_drawdown_start"] is None
    assert s["exposure"] == 0.0
    json.dumps(s, allow_nan=False)
    assert "n/a" in r.report()


def test_open_last_position_is_shown_open(sample, result):
    # the sample ends in the market with SMA 10/20
    last = result.trades.iloc[-1]
    assert last.status == "open" and pd.isna(last.exit_time) and math.isnan(last.exit_price)
    assert (result.trades.status == "closed").sum() == result.stats["n_closed"]
    assert result.trades["pnl"].sum() == pytest.approx(result.stats["final_equity"] - 10_000)
    assert "still open" in result.report()


def test_stats_are_plain_json_and_consistent(sample, result):
    s = result.stats
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text) == s
    for key in ("final_equity", "total_return", "cagr", "volatility", "sharpe", "max_drawdown",
                "max_drawdown_start", "max_drawdown_end", "n_trades", "win_rate", "exposure",
                "buy_hold_return"):
        assert key in s and type(s[key]) in (float, int, str), key
    assert s["final_equity"] == result.equity.iloc[-1]
    assert s["total_return"] == pytest.approx(s["final_equity"] / 10_000 - 1)
    years = (sample.index[-1] - sample.index[0]).total_seconds() / (365.25 * 86400)
    assert s["cagr"] == pytest.approx((1 + s["total_return"]) ** (1 / years) - 1)
    rets = result.equity.pct_change().dropna()
    assert s["sharpe"] == pytest.approx(rets.mean() / rets.std() * math.sqrt(365.25 * 24))
    assert s["max_drawdown"] == pytest.approx(result.drawdown.min())
    assert pd.Timestamp(s["max_drawdown_end"]) == result.drawdown.idxmin()
    assert s["exposure"] == pytest.approx(result.signals["signal"].mean())
    closed = result.trades[result.trades.status == "closed"]
    assert s["win_rate"] == pytest.approx((closed.pnl > 0).mean())
    units = 10_000 / (sample["close"].iloc[0] * 1.0026)
    assert s["buy_hold_return"] == pytest.approx(units * sample["close"].iloc[-1] / 10_000 - 1)


def test_price_inputs_agree(sample, tmp_path):
    headed = tmp_path / "prices.csv"
    sample["close"].iloc[:2000].to_frame().reset_index().to_csv(headed, index=False)
    kraken = tmp_path / "XBTUSD_60.csv"  # Kraken's OHLCVT layout, no header
    part = sample.iloc[:2000]
    pd.DataFrame({"t": part.index.asi8 // 10**9, **{c: part[c] for c in part.columns},
                  "n": 1}).to_csv(kraken, header=False, index=False)
    expected = backtest(sample.iloc[:2000]).stats["final_equity"]
    for source in (sample["close"].iloc[:2000], str(headed), kraken, f"replay:{kraken}"):
        assert backtest(source).stats["final_equity"] == pytest.approx(expected, rel=1e-12)
    assert backtest(kraken).symbol == "BTC/USD"
    r = backtest("replay:BTC/USD")
    assert r.symbol == "BTC/USD" and r.stats["final_equity"] == backtest(sample).stats["final_equity"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(short=20, long=10), "short window 20 must be smaller than long window 10"),
    (dict(short=2.5), "short window 2.5 is not a whole number"),
    (dict(cash=-5), "cash -5 must be a finite number > 0"),
    (dict(cash="lots"), "cash 'lots' is not a number"),
    (dict(fee=0.5), r"fee 0.5 is outside \[0, 0.1\)"),
])
def test_bad_settings_are_config_errors(sample, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        backtest(sample, **kwargs)


@pytest.mark.parametrize("prices, match", [
    (pd.DataFrame({"price": [1.0, 2.0]}), "no 'close' column"),
    (pd.Series([1.0, 2.0, 3.0]), "the price Series has a RangeIndex: a backtest needs times"),
    (pd.Series([1.0, float("nan")], index=HOURS[:2]), "row 2 .* has close .*nan.*: every close must be a finite"),
    (pd.Series([1.0, 2.0], index=HOURS[[1, 0]]), "out-of-order timestamp"),
    ("kraken:BTC/USD", "a backtest needs recorded prices"),
    ("replay:XBT/USD", "'replay:' takes a shipped symbol"),
    ("nowhere.csv", "price file 'nowhere.csv' does not exist"),
    (42, "cannot backtest on a int"),
])
def test_bad_prices_are_config_errors(prices, match):
    with pytest.raises(ConfigError, match=match):
        backtest(prices)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=2, max_size=120),
    short=st.integers(1, 6),
    extra=st.integers(1, 8),
    fee=st.sampled_from([0.0, 0.001, 0.0026, 0.05]),
)
def test_same_as_the_account_loop_on_random_walks(steps, short, extra, fee):
    prices = 100 * np.exp(np.cumsum(steps))
    series = pd.Series(prices, index=pd.date_range("2021-01-01", periods=len(prices), freq="min",
                                                    tz="UTC"))
    r = backtest(series, short=short, long=short + extra, cash=1_000, fee=fee)
    strategy, account = SmaCrossover(short, short + extra), PaperAccount(1_000, fee)
    times, equity = [], []
    for ts, price in series.items():
        trade = account.fill(strategy.update(price).entry_exit, "X/USD", ts, price)
        if trade is not None:
            times.append(trade.timestamp)
        equity.append(account.equity(price))
    assert times == list(r.fills.index)
    np.testing.assert_allclose(r.equity.to_numpy(), equity, rtol=1e-9)


def test_sweep_rows_equal_single_backtests(sample):
    table = sweep(sample, shorts=[5, 10, 30], longs=[20, 30])
    assert list(zip(table["short"], table["long"])) == [(5, 20), (5, 30), (10, 20), (10, 30)]
    for row in table.itertuples():
        stats = backtest(sample, short=row.short, long=row.long).stats
        assert row.n_trades == stats["n_trades"]
        assert row.final_equity == pytest.approx(stats["final_equity"], rel=1e-12)
        assert row.sharpe == pytest.approx(stats["sharpe"], rel=1e-12)


def test_sweep_errors(sample):
    with pytest.raises(ConfigError, match="no \\(short, long\\) pair with short < long"):
        sweep(sample, shorts=[30, 40], longs=[10, 20])
    with pytest.raises(ConfigError, match="shorts holds 0"):
        sweep(sample, shorts=[0, 5], longs=[20])
    with pytest.raises(ConfigError, match="longs is empty"):
        sweep(sample, shorts=[5], longs=[])
    with pytest.raises(ConfigError, match="metric 'sharp' is not a column.*Did you mean: sharpe"):
        sweep_heatmap(sweep(sample, [5], [20]), "sharp")


def test_plots_are_holoviews_objects(result, sample):
    import holoviews as hv

    assert isinstance(result.plot_equity(), hv.NdOverlay)  # strategy, buy & hold
    assert isinstance(result.plot_drawdown(), hv.Area)
    trades = result.plot_trades()
    assert isinstance(trades, hv.Overlay)
    lines, buys, sells = trades  # close and the two SMAs, buy markers, sell markers
    assert len(lines) == 3 and len(buys) == result.stats["n_trades"]
    assert len(sells) == result.stats["n_closed"]
    assert isinstance(result.plot(), hv.Layout)
    heat = sweep_heatmap(sweep(sample, [5, 10], [20, 30]), "sharpe")
    assert isinstance(heat, hv.HeatMap) and len(heat.data) == 4


def test_report_names_the_figures(result):
    text = result.report()
    assert "SMA 10/20" in text and "buy & hold +62.19%" in text
    assert f"{result.stats['n_trades']} round trips" in text
    assert repr(result).startswith("<BacktestResult")
