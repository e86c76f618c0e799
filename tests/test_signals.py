"""The strategy: vectorised and incremental forms agree; the lesson's defects stay fixed."""

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jarvis_helpers import generate_signals, load_sample
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.signals import SmaCrossover

prices_strategy = st.lists(
    st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1, max_size=300,
)


def incremental(prices, short, long):
    strategy = SmaCrossover(short, long)
    return [strategy.update(p) for p in prices]


@settings(max_examples=int(os.environ.get("JARVIS_HYPOTHESIS_EXAMPLES", 300)), deadline=None)
@given(prices=prices_strategy, short=st.integers(1, 15), extra=st.integers(1, 15))
def test_vectorised_and_incremental_give_the_same_signals(prices, short, extra):
    long = short + extra
    frame = generate_signals(pd.Series(prices), short=short, long=long)
    decisions = incremental(prices, short, long)
    assert frame["signal"].tolist() == [float(d.signal) for d in decisions]
    assert frame["entry/exit"].tolist() == [float(d.entry_exit) for d in decisions]
    np.testing.assert_allclose(frame[f"sma{long}"].to_numpy(), [d.sma_long for d in decisions],
                               rtol=1e-9, equal_nan=True)


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
