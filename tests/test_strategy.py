"""Strategies written once: parameters, the position rule, the shipped strategies, the
contract every shipped strategy passes (fast path = rules; Bot replay = backtest;
check_strategy clean), a user's strategy from a file, and one clear error per mistake."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_helpers import (
    Bot,
    ReplayFeed,
    Store,
    Strategy,
    StrategyError,
    backtest,
    check_strategy,
    load_sample,
    load_strategy,
    strategies,
    sweep,
)
from jarvis_helpers.backtest import sweep_heatmap
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.signals import generate_signals
from jarvis_helpers.strategy import positions, run_rules, synthetic_candles
from jarvis_helpers.ticks import Tick

USER_FILE = "tests/user_strategies.py"
SAMPLE = load_sample("BTC/USD")


@pytest.fixture(scope="module")
def user():
    import importlib

    return importlib.import_module("user_strategies")


# -- parameters -----------------------------------------------------------------------------
class Channel(Strategy):
    period: int = 20
    margin: float = 0.0
    long_only: bool = True
    warmup = 20

    def rules(self, candles):
        high = candles["high"].rolling(self.period).max().shift(1)
        return pd.DataFrame({"high": high, "enter": candles["close"] > high * (1 + self.margin),
                             "exit": candles["close"] < high * 0.95}, index=candles.index)


def test_parameters_are_annotated_attributes():
    s = Channel(period="7", margin=1, long_only="no")
    assert s.params == {"period": 7, "margin": 1.0, "long_only": False}
    assert s.name == "Channel" and repr(s) == "Channel(period=7, margin=1.0, long_only=False)"
    assert Channel() == Channel(period=20) and Channel() != Channel(period=21)
    assert strategies()["rsi"]().name == "rsi"


@pytest.mark.parametrize("kwargs, match", [
    (dict(perod=5), "Channel has no parameter 'perod': its parameters are period, margin, "
                    "long_only. Did you mean: period?"),
    (dict(period=2.5), "parameter period of Channel: 2.5 is not a whole number"),
    (dict(period="x"), "parameter period of Channel: 'x' is not a whole number"),
    (dict(period=True), "not a whole number"),
    (dict(margin="lots"), "parameter margin of Channel: 'lots' is not a number"),
    (dict(margin=float("nan")), "not a finite number"),
    (dict(long_only="maybe"), "is not true or false"),
])
def test_bad_parameters_name_the_value_and_what_is_accepted(kwargs, match):
    with pytest.raises(ConfigError, match=match.replace("(", r"\(").replace(")", r"\)")):
        Channel(**kwargs)


def test_interface_names_cannot_be_parameters():
    with pytest.raises(TypeError, match="warmup cannot be a parameter"):
        class Bad(Strategy):  # noqa: F841
            warmup: int = 5


def test_shipped_parameter_checks():
    with pytest.raises(ConfigError, match="short window 30 must be smaller than long window 20"):
        load_strategy("sma", {"short": "30"})
    with pytest.raises(ConfigError, match="lower < upper"):
        load_strategy("rsi", {"lower": 80})
    with pytest.raises(ConfigError, match="unknown strategy 'bolinger'.*Did you mean: bollinger"):
        load_strategy("bolinger")
    with pytest.raises(ConfigError, match="Rsi has no parameter 'short'"):
        backtest(SAMPLE, "rsi", short=5)


# -- the position rule ------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60))
def test_position_rule_equals_the_loop(bars):
    enter = [e for e, _ in bars]
    exit_ = [x for _, x in bars]
    expected, pos = [], 0.0
    for e, x in bars:
        if pos == 0 and e and not x:
            pos = 1.0
        elif pos == 1 and x and not e:
            pos = 0.0
        expected.append(pos)
    assert positions(enter, exit_).tolist() == expected


# -- the contract every shipped strategy passes ----------------------------------------------
def _fast_rows(strategy, candles):
    fast = strategy.incremental()
    fast.reset()
    rows = []
    for ts, bar in zip(candles.index, candles.itertuples(index=False)):
        rows.append(fast.update(Tick("X/USD", ts, bar.close, bar.open, bar.high, bar.low)))
    return rows


def _assert_fast_equals_rules(strategy, candles):
    whole = run_rules(strategy, candles)
    names = strategy.indicator_columns()
    w = strategy.warmup
    for i, (indicators, enter, exit_) in enumerate(_fast_rows(strategy, candles)):
        assert list(indicators) == names
        assert (enter, exit_) == (bool(whole["enter"].iat[i]), bool(whole["exit"].iat[i])), i
        window = run_rules(strategy, candles.iloc[max(0, i - w + 1): i + 1]).iloc[-1]
        for name in names:
            np.testing.assert_allclose(indicators[name], whole[name].iat[i], rtol=1e-12)
            np.testing.assert_allclose(indicators[name], window[name], rtol=1e-12)


WITH_FAST_PATH = sorted(n for n, cls in strategies().items() if cls().incremental() is not None)


def test_the_sma_has_a_fast_path():
    assert "sma" in WITH_FAST_PATH  # the others run through rules (parity tests below)


@pytest.mark.parametrize("name", WITH_FAST_PATH)
def test_fast_path_equals_rules_on_real_prices(name):
    _assert_fast_equals_rules(strategies()[name](), SAMPLE.iloc[:600])


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=1, max_size=80),
       short=st.integers(1, 6), extra=st.integers(1, 8))
def test_sma_fast_path_equals_rules_on_random_walks(steps, short, extra):
    close = 100 * np.exp(np.cumsum(steps))
    index = pd.date_range("2021-01-01", periods=len(close), freq="min", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close, "low": close, "close": close,
                            "volume": np.nan}, index=index)
    _assert_fast_equals_rules(load_strategy("sma", {"short": short, "long": short + extra}), candles)


SMALL = {"sma": {"short": 3, "long": 7}, "ema": {"fast": 3, "slow": 5},
         "rsi": {"period": 4, "lower": 35, "upper": 65}, "bollinger": {"period": 5, "width": 1.5}}


@pytest.mark.parametrize("name", sorted(strategies()))
@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=1, max_size=150),
       flat=st.integers(0, 10))
def test_last_warmup_bars_decide_like_the_whole_history_on_random_walks(name, steps, flat):
    # what makes the Bot (last warmup bars) and the backtest (all bars) agree; flat runs
    # (repeated prices) are the knife-edges of every crossover
    close = 100 * np.exp(np.cumsum(steps + [0.0] * flat))
    index = pd.date_range("2021-01-01", periods=len(close), freq="min", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close * 1.001, "low": close * 0.999,
                            "close": close, "volume": np.nan}, index=index)
    strategy = load_strategy(name, SMALL[name])
    whole = run_rules(strategy, candles)
    w = strategy.warmup
    for i in range(len(candles)):
        last = run_rules(strategy, candles.iloc[max(0, i - w + 1): i + 1]).iloc[-1]
        assert (bool(last["enter"]), bool(last["exit"])) == (whole["enter"].iat[i], whole["exit"].iat[i])
        for col in strategy.indicator_columns():
            np.testing.assert_allclose(last[col], whole[col].iat[i], rtol=1e-9)


def _bot_fills(strategy, data, url="sqlite://"):
    store = Store(url)
    bot = Bot(ReplayFeed(data), store, strategy=strategy, interval=0)
    asyncio.run(bot.run())
    return bot, store.trades_frame("jarvis")


@pytest.mark.parametrize("name", sorted(strategies()))
def test_bot_replay_makes_the_backtests_fills(name):
    data = SAMPLE.iloc[:1500]
    bot, fills = _bot_fills(name, data)
    expected = backtest(data, name).fills
    assert len(expected) > 4
    assert list(fills.index) == list(expected.index)
    assert fills["side"].tolist() == expected["side"].tolist()
    np.testing.assert_allclose(fills["price"], expected["price"], rtol=0)
    np.testing.assert_allclose(fills["units"], expected["units"], rtol=1e-9)
    assert set(bot.last_event.indicators) == set(load_strategy(name).indicator_columns())


@pytest.mark.parametrize("name", sorted(strategies()))
def test_every_shipped_strategy_is_check_strategy_clean_on_the_sample(name):
    report = check_strategy(name, SAMPLE)
    assert report.ok, report.problems
    assert set(report.checked) == {"look-ahead", "warm-up", "parity"}


def test_sma_results_are_todays():
    # the figures the doctests of backtest.py and bot.py pinned before strategies existed
    r = backtest(SAMPLE)
    assert (r.stats["n_fills"], round(r.stats["final_equity"], 2)) == (1015, 3232.17)
    assert r.signals.columns.tolist() == ["close", "sma10", "sma20", "signal", "entry/exit"]
    pd.testing.assert_frame_equal(r.signals, generate_signals(SAMPLE), check_exact=True)
    assert backtest(SAMPLE, "sma").stats == r.stats == backtest(SAMPLE, 10, 20).stats


# -- check_strategy finds the cheats ------------------------------------------------------------
class Centred(Strategy):
    warmup = 20

    def rules(self, candles):
        mean = candles["close"].rolling(20, center=True).mean()
        return pd.DataFrame({"mean": mean, "enter": candles["close"] < mean,
                             "exit": candles["close"] > mean}, index=candles.index)


class PandasEma(Strategy):
    span: int = 26
    warmup = 30

    def rules(self, candles):
        ema = candles["close"].ewm(span=self.span, adjust=False).mean()
        return pd.DataFrame({"ema": ema, "enter": candles["close"] > ema,
                             "exit": candles["close"] < ema}, index=candles.index)


def test_check_strategy_catches_look_ahead_with_the_bar():
    report = check_strategy(Centred, SAMPLE.iloc[:3000])
    assert not report.ok
    first = report.problems[0]
    assert first.startswith("look-ahead: 'mean' at bar 11 (2018-10-01 11:00:00+00:00)")
    assert "when the bars after bar 19" in first


def test_check_strategy_says_what_warm_up_an_ema_needs():
    report = check_strategy(PandasEma, SAMPLE.iloc[:3000])
    (problem,) = report.problems
    assert problem.startswith("warm-up: with only the last 30 bars")
    assert "'ema' at bar" in problem and "off by" in problem
    need = int(problem.split("a warm-up of ")[1].split()[0])
    # (1 - 2/27) ** need must be below the check's 1e-9 tolerance: about 270 bars
    assert 250 < need < 450
    assert check_strategy(PandasEma(), SAMPLE.iloc[:3000]).strategy.warmup == 30
    fixed = type("Warm", (PandasEma,), {"warmup": need})
    assert check_strategy(fixed, SAMPLE.iloc[:3000]).ok


def test_check_strategy_reports_malformed_output(user):
    report = check_strategy(user.WrongShape, SAMPLE.iloc[:100])
    assert report.problems == [
        "malformed output: WrongShape.rules returned no 'exit' column (it returned: enter) "
        "deciding on the bar of 2018-10-05 03:00:00+00:00 (100 bars given): return boolean "
        "'enter' and 'exit' columns"]


# -- a user's strategy from a file ---------------------------------------------------------------
def test_user_strategy_from_a_file_runs_everywhere(tmp_path, user):
    strategy = load_strategy(f"{USER_FILE}:Momentum", {"lookback": "12"})
    assert strategy.params == {"lookback": 12, "threshold": 0.01}
    assert strategy.indicator_columns() == ["momentum"]
    data = SAMPLE.iloc[:1200]
    result = backtest(data, strategy)
    assert result.stats["n_trades"] > 3 and "Momentum(lookback=12" in result.report()
    _, fills = _bot_fills(strategy, data)
    assert list(fills.index) == list(result.fills.index)
    assert check_strategy(strategy, data).ok
    # the same class imported as a module works the same
    assert backtest(data, user.Momentum(lookback=12)).stats == result.stats


@pytest.mark.parametrize("spec, match", [
    ("tests/nothing.py:Momentum", "strategy file 'tests/nothing.py' does not exist"),
    (f"{USER_FILE}:Momentun", "has no Strategy class 'Momentun'.*Did you mean: Momentum"),
    (f"{USER_FILE}:", "name the class after the colon"),
])
def test_bad_strategy_files(spec, match):
    with pytest.raises(ConfigError, match=match):
        load_strategy(spec)


# -- a user's bug reaches the user, with the class and the bar ---------------------------------
def test_rules_raising_in_the_bot_is_a_strategy_error_and_the_status_says_it(tmp_path, user):
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    bot = Bot(ReplayFeed(SAMPLE.iloc[:100]), Store(url), strategy=user.Explodes(), interval=0)
    with pytest.raises(StrategyError, match=r"Explodes.rules raised KeyError: 'volume_ma' deciding "
                                            r"on the bar of 2018-10-03 00:00:00\+00:00"):
        asyncio.run(bot.run())
    assert bot.status == "error" and "Explodes.rules raised KeyError" in bot.last_error
    assert Store(url).count_ticks("jarvis") == 48  # bars 0..47; the bar it failed on is not kept
    with pytest.raises(StrategyError, match="Explodes.rules raised KeyError"):
        backtest(SAMPLE.iloc[:100], user.Explodes)


def test_rules_that_cannot_run_fail_before_anything_is_stored(tmp_path, user):
    url = f"sqlite:///{tmp_path / 'y.sqlite'}"
    bot = Bot(ReplayFeed(SAMPLE.iloc[:10]), Store(url), strategy=user.WrongShape, interval=0)
    with pytest.raises(StrategyError, match="WrongShape.rules returned no 'exit' column"):
        asyncio.run(bot.run())
    assert Store(url).bots() == [] and Store(url).count_ticks() == 0


@pytest.mark.parametrize("out, match", [
    (lambda c: [1, 2], "a list, not a DataFrame"),
    (lambda c: pd.DataFrame({"enter": True, "exit": False}, index=c.index[:-1]),
     "4 rows for 5 bars"),
    (lambda c: pd.DataFrame({"enter": c.close > 0, "exit": c.close < 0}).reset_index(drop=True),
     "a different index"),
    (lambda c: pd.DataFrame({"enter": (c.close > 0).where(c.index > c.index[0]), "exit": c.close < 0}),
     "a missing value \\(NaN\\) in 'enter' at bar 0"),
    (lambda c: pd.DataFrame({"enter": (c.close > 0).astype(float), "exit": c.close < 0}),
     "'enter' of type float64, not boolean"),
    (lambda c: pd.DataFrame({"enter": c.close > 0, "exit": c.close < 0, "note": "hi"}),
     "column 'note' of type"),
])
def test_wrong_shapes_are_strategy_errors_naming_the_class(out, match):
    class Mine(Strategy):
        warmup = 2

        def rules(self, candles):
            return out(candles)

    with pytest.raises(StrategyError, match="Mine.rules returned " + match):
        run_rules(Mine(), synthetic_candles(5))


# -- the store records the strategy; resuming with another is refused -----------------------
def test_resuming_with_another_strategy_is_refused_and_nothing_changes(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    data = SAMPLE.iloc[:400]
    asyncio.run(Bot(ReplayFeed(data), Store(url), strategy="rsi", params={"period": 7},
                    interval=0).run(max_ticks=300))
    store = Store(url)
    before = (store.bot_config("jarvis"), store.count_ticks("jarvis"), store.trades("jarvis"))
    assert before[0]["strategy"] == "rsi" and before[0]["params"]["period"] == 7
    with pytest.raises(ConfigError, match=r"was started with period=7 \(now 14\)"):
        asyncio.run(Bot(ReplayFeed(data), Store(url), strategy="rsi", interval=0).run())
    with pytest.raises(ConfigError, match=r"strategy 'rsi' \(period=7, lower=30.0, upper=70.0\) "
                                          r"\(now 'sma' \(short=10, long=20\)\)"):
        asyncio.run(Bot(ReplayFeed(data), Store(url), interval=0).run())
    after = (store.bot_config("jarvis"), store.count_ticks("jarvis"), store.trades("jarvis"))
    assert after == before
    resumed = Bot(ReplayFeed(data), Store(url), strategy="rsi", params=["period=7"], interval=0)
    assert asyncio.run(resumed.run()) == 100


def test_an_old_config_without_a_strategy_is_the_sma_it_was_run_with(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    store = Store(url)
    store.register_bot("jarvis", {"symbol": "BTC/USD", "cash": 10000.0, "fee": 0.0026,
                                  "short": 5, "long": 20})
    with pytest.raises(ConfigError, match=r"short=5 \(now 10\)"):
        asyncio.run(Bot(ReplayFeed(SAMPLE.iloc[:50]), store, interval=0).run())
    bot = Bot(ReplayFeed(SAMPLE.iloc[:50]), store, short=5, interval=0)
    assert asyncio.run(bot.run()) == 50 and bot.strategy == load_strategy("sma", {"short": 5})
    assert json.loads(json.dumps(store.bot_config("jarvis")))["short"] == 5


# -- sweep -------------------------------------------------------------------------------------
def test_sweep_any_strategy_rows_equal_single_backtests():
    data = SAMPLE.iloc[:4000]
    table = sweep(data, "rsi", grid={"period": [7, 14], "lower": [25, 30]}, fee=0.001)
    assert table[["period", "lower"]].values.tolist() == [[7, 25], [7, 30], [14, 25], [14, 30]]
    for row in table.itertuples():
        stats = backtest(data, "rsi", params={"period": row.period, "lower": row.lower},
                         fee=0.001).stats
        assert row.final_equity == stats["final_equity"] and row.n_trades == stats["n_trades"]
    heat = sweep_heatmap(table, "sharpe")
    assert heat.kdims[0].name == "lower" and len(heat.data) == 4
    with pytest.raises(ConfigError, match="rsi has no parameter 'perid' to sweep.*Did you mean: period"):
        sweep(data, "rsi", grid={"perid": [7]})
    with pytest.raises(ConfigError, match="no combination of the grid is a valid sma: short window 30"):
        sweep(data, "sma", grid={"short": [30], "long": [20]})


def test_sweep_on_a_dask_cluster_gives_the_local_table(monkeypatch):
    from distributed import Client, LocalCluster

    data = SAMPLE.iloc[:3000]
    grid = {"short": [5, 10, 15], "long": [20, 30]}
    local = sweep(data, "sma", grid=grid)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        remote = sweep(data, "sma", grid=grid, client=client)
        pd.testing.assert_frame_equal(remote, local)
        monkeypatch.setenv("JARVIS_DASK_SCHEDULER", cluster.scheduler_address)
        via_env = sweep(data, f"{USER_FILE}:Momentum", grid={"lookback": [6, 12, 24]})
    monkeypatch.delenv("JARVIS_DASK_SCHEDULER")
    pd.testing.assert_frame_equal(via_env, sweep(data, f"{USER_FILE}:Momentum",
                                                 grid={"lookback": [6, 12, 24]}))


def test_check_strategy_inside_a_running_event_loop():
    async def in_a_notebook_cell():  # Jupyter runs cells inside a running loop
        return check_strategy("rsi", SAMPLE.iloc[:800])

    report = asyncio.run(in_a_notebook_cell())
    assert report.ok and "fills each" in report.checked["parity"]
