"""The strategy: vectorised and incremental forms agree; the lesson's defects stay fixed."""

import math
import os
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_helpers import generate_signals, load_sample
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.signals import SmaCrossover, rolling_mean

EXAMPLES = int(os.environ.get("JARVIS_HYPOTHESIS_EXAMPLES", 300))

prices_strategy = st.lists(
    st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=300,
)


def incremental(prices, short, long):
    strategy = SmaCrossover(short, long)
    return [strategy.update(p) for p in prices]


@settings(max_examples=EXAMPLES, deadline=None)
@given(prices=prices_strategy, short=st.integers(1, 15), extra=st.integers(1, 15))
def test_vectorised_and_incremental_give_the_same_signals(prices, short, extra):
    long = short + extra
    frame = generate_signals(pd.Series(prices), short=short, long=long)
    decisions = incremental(prices, short, long)
    assert frame["signal"].tolist() == [float(d.signal) for d in decisions]
    assert frame["entry/exit"].tolist() == [float(d.entry_exit) for d in decisions]
    assert_bitwise_equal(frame[f"sma{short}"], [d.sma_short for d in decisions])
    assert_bitwise_equal(frame[f"sma{long}"], [d.sma_long for d in decisions])


@settings(max_examples=100, deadline=None)
@given(level=st.floats(0.01, 1e6), n=st.integers(20, 200))
def test_flat_market_is_never_a_signal(level, n):
    prices = [level] * n
    assert generate_signals(pd.Series(prices))["signal"].sum() == 0
    assert all(d.signal == 0 for d in incremental(prices, 10, 20))


def test_real_history_agrees_tick_by_tick():
    close = load_sample("BTC/USD")["close"]
    frame = generate_signals(close)
    decisions = incremental(close.to_numpy(), 10, 20)
    assert frame["entry/exit"].to_numpy().tolist() == [float(d.entry_exit) for d in decisions]
    assert_bitwise_equal(frame["sma10"], [d.sma_short for d in decisions])
    assert_bitwise_equal(frame["sma20"], [d.sma_long for d in decisions])
    assert (frame["entry/exit"] != 0).sum() > 500  # it really trades (defect 1: it never did)


def test_first_tick_with_both_averages_above_is_an_entry():
    prices = pd.Series(np.arange(1.0, 31.0))  # rising: short above long from the start
    frame = generate_signals(prices)
    assert frame["signal"].iloc[:19].eq(0).all()
    assert frame["entry/exit"].iloc[19] == 1.0
    assert incremental(prices, 10, 20)[19].entry_exit == 1


def test_signals_frame_has_the_lessons_columns_and_keeps_the_index():
    df = load_sample("BTC/USD").iloc[:50]
    frame = generate_signals(df)
    assert list(frame.columns) == ["close", "sma10", "sma20", "signal", "entry/exit"]
    assert frame.index.equals(df.index)
    assert frame["entry/exit"].iloc[-1] in (-1.0, 0.0, 1.0)  # .iloc works: defect 2
    assert "signal" not in df.columns  # the input is not modified


@pytest.mark.parametrize("short,long", [(20, 10), (10, 10), (0, 5), (2.5, 20), ("10", 20), (True, 20)])
def test_bad_windows_are_refused_clearly(short, long):
    with pytest.raises(ConfigError, match="window"):
        generate_signals(pd.Series([1.0, 2.0]), short=short, long=long)
    with pytest.raises(ConfigError):
        SmaCrossover(short, long)


def test_incremental_reset_starts_over():
    strategy = SmaCrossover(2, 3)
    first = [strategy.update(p).signal for p in [1, 2, 3, 4]]
    strategy.reset()
    assert [strategy.update(p).signal for p in [1, 2, 3, 4]] == first


# -- one exact SMA: every window mean is math.fsum(window) / window, bit for bit -------------

def reference_sum(window) -> float:
    """math.fsum, with its errors read as IEEE arithmetic reads them (rolling_mean's doc)."""
    if any(math.isnan(x) for x in window) or {math.inf, -math.inf} <= set(window):
        return math.nan
    if math.inf in window or -math.inf in window:
        return math.inf if math.inf in window else -math.inf
    try:
        return math.fsum(window)
    except OverflowError:  # a partial sum overflowed: the exact sum, if finite, of quarters
        quarter = math.fsum(x / 4 for x in window)
        return quarter * 4 if abs(quarter) <= sys.float_info.max / 4 else math.copysign(math.inf, quarter)


def reference_mean(values, window):
    values = [float(v) for v in values]
    return np.array([reference_sum(values[i + 1 - window:i + 1]) / window if i + 1 >= window
                     else math.nan for i in range(len(values))])


def assert_bitwise_equal(actual, expected):
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    same = (actual.view(np.int64) == expected.view(np.int64)) | (np.isnan(actual) & np.isnan(expected))
    bad = np.flatnonzero(~same)
    assert not bad.size, f"{bad.size} differ, first at {bad[0]}: {actual[bad[0]]!r} != {expected[bad[0]]!r}"


magnitudes = st.one_of(
    st.floats(1e-6, 1e9),
    st.integers(0, 10**9).map(float),
    st.integers(0, 10**7).map(lambda k: k * 0.1 + 0.2),  # 0.1 + 0.2 style decimals
    st.integers(1, 10**11).map(lambda cents: cents / 100),  # prices in cents
    st.builds(lambda m, e: m * 10.0**e, st.floats(1.0, 10.0), st.integers(-6, 9)),
)
mixed_prices = st.lists(magnitudes, min_size=1, max_size=600)


@settings(max_examples=EXAMPLES, deadline=None)
@given(prices=mixed_prices, data=st.data())
def test_rolling_mean_is_fsum_of_each_window_bit_for_bit(prices, data):
    window = data.draw(st.integers(1, min(300, len(prices))), label="window")
    assert_bitwise_equal(rolling_mean(prices, window), reference_mean(prices, window))


@settings(max_examples=EXAMPLES, deadline=None)
@given(values=st.lists(st.tuples(st.sampled_from([1.0, -1.0]), magnitudes).map(lambda t: t[0] * t[1]),
                       min_size=1, max_size=300),
       window=st.integers(1, 40))
def test_rolling_mean_is_exact_through_cancellation(values, window):
    assert_bitwise_equal(rolling_mean(values, window), reference_mean(values, window))


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(values=st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=120), window=st.integers(1, 30))
def test_rolling_mean_is_exact_over_the_whole_float_range(values, window):
    # subnormals, exponent spans too wide for the digit path (math.fsum instead), zeros
    assert_bitwise_equal(rolling_mean(values, window), reference_mean(values, window))


@settings(max_examples=EXAMPLES, deadline=None)
@given(prices=mixed_prices, short=st.integers(1, 40), extra=st.integers(1, 80))
def test_generate_signals_is_fsum_exact_and_equals_the_live_strategy(prices, short, extra):
    long = short + extra
    frame = generate_signals(pd.Series(prices), short=short, long=long)
    decisions = incremental(prices, short, long)
    for column, window, live in ((f"sma{short}", short, "sma_short"), (f"sma{long}", long, "sma_long")):
        assert_bitwise_equal(frame[column], reference_mean(prices, window))
        assert_bitwise_equal(frame[column], [getattr(d, live) for d in decisions])
    assert frame["entry/exit"].tolist() == [float(d.entry_exit) for d in decisions]


def test_rolling_mean_is_exact_across_blocks_and_long_windows():
    rng = np.random.default_rng(10)
    values = 10 ** rng.uniform(-6, 9, 20_000)  # more windows than one block of work (16,384)
    for window in (1, 20, 300, 5_000):  # 5,000: a block is 4 windows long
        got = rolling_mean(values, window)
        assert np.isnan(got[:window - 1]).all()
        ends = np.union1d(rng.integers(window - 1, len(values), 300),  # windows ending there
                          [window - 1, len(values) - 1] + [window - 2 + b for b in (16_384, 16_385, 20_000)
                                                           if window - 2 + b < len(values)])
        expected = [math.fsum(values[i + 1 - window:i + 1]) / window for i in ends]
        assert_bitwise_equal(got[ends], expected)


def test_rolling_mean_rounds_ties_and_near_ties_correctly():
    # exact sums a hair above, at, or a hair below half an ulp, the hair anywhere below:
    # rounding only the leading bits, or dropping the far ones, gets these wrong
    cases = []
    for scale in (1.0, 3.0, 2.0**-30, 2.0**40, 0.1, 7e5):
        for base in (1.0, 1.0 + 2.0**-52, 1.5):
            for far in range(54, 200, 7):
                for hair in (2.0**-far, -(2.0**-far), 0.0):
                    for sign in (1.0, -1.0):
                        cases.append([sign * scale * base, sign * scale * 2.0**-53,
                                      sign * scale * hair, 0.0])
    values = np.array(cases).ravel()  # each case a window of 4 (a power of two: exact division)
    got = rolling_mean(values, 4)[3::4]
    assert_bitwise_equal(got, [math.fsum(case) / 4 for case in cases])
    # the far hair decides: many results differ from rounding the first two terms alone
    assert sum(g != (c[0] + c[1]) / 4 for g, c in zip(got, cases)) > 300


def test_the_naive_sums_would_differ_here():
    # the case the exact path exists for: a left-to-right or SIMD sum is off by a bit
    values = [0.1, 0.2, 0.3] * 5
    naive = [(values[i] + values[i + 1] + values[i + 2]) / 3 for i in range(len(values) - 2)]
    assert rolling_mean(values, 3)[2:].tolist() != naive
    assert_bitwise_equal(rolling_mean(values, 3), reference_mean(values, 3))


def test_non_finite_windows_and_overflow_follow_ieee():
    nan, inf = math.nan, math.inf
    values = [1.0, nan, 2.0, inf, 3.0, -inf, 4.0, 5.0, 6.0, 1e308, 1e308, -1e308, -1e308, -1e308]
    got = rolling_mean(values, 2)
    assert_bitwise_equal(got, [nan, nan, nan, inf, inf, -inf, -inf, 4.5, 5.5, 5e307, inf, 0.0, -inf, -inf])
    assert_bitwise_equal(got, reference_mean(values, 2))
    assert_bitwise_equal(rolling_mean([inf, -inf, 1.0], 3), [nan, nan, nan])
    assert_bitwise_equal(rolling_mean([1e308, 1e308, -1e308], 3), [nan, nan, 1e308 / 3])


def test_shipped_sample_means_are_exact():
    close = load_sample("BTC/USD")["close"].to_numpy()
    for window in (10, 20, 50):
        assert_bitwise_equal(rolling_mean(close, window), reference_mean(close, window))


@pytest.mark.parametrize("window", [0, -3, 2.5, "20", True, None])
def test_rolling_mean_refuses_a_bad_window(window):
    with pytest.raises(ConfigError, match="window"):
        rolling_mean([1.0, 2.0, 3.0], window)
