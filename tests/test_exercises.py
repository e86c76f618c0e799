"""Every exercise check: the solution passes, the placeholder is "not done yet", and typical
wrong answers get their own sentence. Real components throughout: a real event loop and
thread pool, the shipped replay feed, SQLite files, streamz streams, HoloViews buffers,
the real backtest."""

from __future__ import annotations

import asyncio
import time

import holoviews as hv
import numpy as np
import pandas as pd
import pytest
from streamz import Stream

from jarvis_helpers import Store, backtest, load_sample
from jarvis_helpers.account import DEFAULT_FEE, fill
from jarvis_helpers.backtest import sweep
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.exercises import check, exercise, exercises
from jarvis_helpers.ticks import Tick
from tests.conftest import Heartbeat


def verdict(name, *values, **context):
    return exercise(name).check(*values, **context)


def assert_right(name, *values, **context):
    v = verdict(name, *values, **context)
    assert v.status == "right", v.message
    assert v.message == f"Exercise {name}: right."


def assert_not_done(name, *values, **context):
    v = verdict(name, *values, **context)
    assert (v.status, v.message) == ("not done", f"Exercise {name} is not done yet.")


def assert_wrong(name, *values, says: str, **context):
    v = verdict(name, *values, **context)
    assert v.status == "wrong", v.message
    assert says in v.message, v.message
    assert "Traceback" not in v.message


# ---------------------------------------------------------------- 01 fetching data

TICKER = {"symbol": "BTC/USD", "last": 10776.1, "timestamp": None}


def fetch_blocking():
    time.sleep(0.2)
    return dict(TICKER)


async def _with_heartbeat(body):
    async with Heartbeat() as pulse:
        await asyncio.sleep(0.03)
        before = pulse.beats
        ticker = await body(asyncio.get_running_loop())
        return ticker, pulse.beats - before


def test_executor_solution_is_right():
    async def solution(loop):
        return await loop.run_in_executor(None, fetch_blocking)

    ticker, beats = asyncio.run(_with_heartbeat(solution))
    assert beats > 0
    assert_right("01-executor", ticker, heartbeats=beats, fetch=fetch_blocking)


def test_executor_placeholder_is_not_done_and_carries_on_with_the_reference(capsys):
    assert_not_done("01-executor", ..., heartbeats=0, fetch=fetch_blocking)
    assert check("01-executor", ..., heartbeats=0, fetch=fetch_blocking) == TICKER
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "not done yet" in out and "carry on" in out


def test_executor_blocking_call_is_explained():
    async def blocking(loop):
        return fetch_blocking()

    ticker, beats = asyncio.run(_with_heartbeat(blocking))
    assert beats == 0
    assert_wrong("01-executor", ticker, heartbeats=beats, fetch=fetch_blocking,
                 says="the call blocked the loop")


def test_executor_forgotten_await_is_explained():
    async def no_await(loop):
        future = loop.run_in_executor(None, fetch_blocking)
        v = verdict("01-executor", future, heartbeats=3, fetch=fetch_blocking)
        await future  # let the thread finish before the loop closes
        return v

    v, _ = asyncio.run(_with_heartbeat(no_await))
    assert v.status == "wrong" and "put `await` in front of" in v.message


def test_executor_function_itself_is_explained():
    assert_wrong("01-executor", fetch_blocking, heartbeats=3, fetch=fetch_blocking,
                 says="is the function 'fetch_blocking' itself")


def _five_rows():
    t0 = pd.Timestamp("2018-10-01", tz="UTC")
    return [{"time": t0 + pd.Timedelta(hours=h), "close": 6600.0 + h} for h in range(5)]


def test_five_ticks_solution_is_right():
    from jarvis_helpers.exercises import reference_five_ticks

    rows = asyncio.run(reference_five_ticks("replay"))
    assert len(rows) == 5 and rows[0]["close"] == load_sample("BTC/USD")["close"].iloc[0]
    assert_right("01-five-ticks", rows, feed="replay")
    assert_right("01-five-ticks", _five_rows(), feed="replay")


def test_five_ticks_untouched_rows_are_not_done_and_the_feed_fills_them(capsys):
    assert_not_done("01-five-ticks", [], feed="replay")
    rows = check("01-five-ticks", [], feed="replay")
    assert [r["close"] for r in rows] == load_sample("BTC/USD")["close"].head(5).tolist()
    assert "not done yet" in capsys.readouterr().out


def test_five_ticks_wrong_answers():
    one = _five_rows()[0]
    assert_wrong("01-five-ticks", [dict(one) for _ in range(5)], feed="replay",
                 says="all five rows have the same time")
    ticks = [Tick("BTC/USD", r["time"], r["close"]) for r in _five_rows()]
    assert_wrong("01-five-ticks", ticks, feed="replay", says="rows holds Tick objects")
    assert_wrong("01-five-ticks", _five_rows()[:4], feed="replay", says="rows holds 4 rows; expected 5")
    renamed = [{"timestamp": r["time"], "close": r["close"]} for r in _five_rows()]
    assert_wrong("01-five-ticks", renamed, feed="replay", says="row 0 has the keys ['close', 'timestamp']")


# ---------------------------------------------------------------- 02 persisting data

def test_parameterised_solution_is_right():
    def prices_of(db, symbol):
        return pd.read_sql("SELECT * FROM prices WHERE symbol = ?", db, params=(symbol,))

    assert_right("02-parameterised", prices_of)


def test_parameterised_placeholder_is_not_done():
    def prices_of(db, symbol):
        return ...

    assert_not_done("02-parameterised", prices_of)
    fixed = check("02-parameterised", prices_of)
    assert exercise("02-parameterised").check(fixed).ok


def test_parameterised_wrong_answers():
    def pasted(db, symbol):
        return pd.read_sql(f"SELECT * FROM prices WHERE symbol = '{symbol}'", db)

    def quoted(db, symbol):
        return pd.read_sql("SELECT * FROM prices WHERE symbol = '?'", db)

    def no_tuple(db, symbol):
        return pd.read_sql("SELECT * FROM prices WHERE symbol = ?", db, params=(symbol))

    def percent_s(db, symbol):
        return pd.read_sql("SELECT * FROM prices WHERE symbol = %s", db, params=(symbol,))

    assert_wrong("02-parameterised", pasted, says="every row of the table: the symbol was pasted")
    assert_wrong("02-parameterised", quoted, says="Is the ? inside quotes?")
    assert_wrong("02-parameterised", no_tuple, says="params=(symbol,) with the comma")
    assert_wrong("02-parameterised", percent_s, says="sqlite3 marks a value with ?")


@pytest.fixture
def twice_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'twice.sqlite'}")
    ten = [Tick("BTC/USD", t, c) for t, c in load_sample("BTC/USD")["close"].head(10).items()]
    store.write("twice", [(tick, None) for tick in ten])
    yield store
    store.close()


def test_recent_solution_placeholder_and_wrong_answers(twice_store, capsys):
    store = twice_store
    right = store.recent_ticks(3, bot="twice")
    assert_right("02-recent", right, store=store)
    assert_not_done("02-recent", ..., store=store)
    back = check("02-recent", ..., store=store)
    pd.testing.assert_frame_equal(back, right)
    assert "not done yet" in capsys.readouterr().out
    assert_wrong("02-recent", store.recent_ticks(10, bot="twice").head(3), store=store,
                 says="the oldest ticks; the three newest start at 2018-10-01 07:00")
    assert_wrong("02-recent", right.iloc[::-1], store=store, says="newest first")
    assert_wrong("02-recent", store.recent_ticks(3, bot="Twice"), store=store, says='did you pass bot="twice"')
    assert_wrong("02-recent", store.recent_ticks(10, bot="twice"), store=store,
                 says="recent has 10 rows; expected 3")


# ---------------------------------------------------------------- 03 streaming plots

def _emit_exercise(body):
    """A notebook-like namespace: a global `stream` and an `emit` defined against it."""
    namespace = {"pd": pd, "stream": Stream()}
    exec(f"def emit(i):\n    {body}\n", namespace)
    return namespace["emit"], namespace["stream"]


def test_emit_solution_is_right_and_does_not_touch_the_real_stream():
    emit, stream = _emit_exercise('stream.emit(pd.DataFrame({"x": [float(i)], "y": [float(i)]}))')
    seen = []
    stream.sink(seen.append)
    assert_right("03-emit", emit)
    assert seen == []  # the check probes a copy of emit bound to its own stream


def test_emit_placeholder_is_not_done_and_the_reference_emits():
    emit, stream = _emit_exercise("return ...")
    assert_not_done("03-emit", emit)
    seen = []
    stream.sink(seen.append)
    reference = check("03-emit", emit)
    reference(5)
    assert len(seen) == 1 and seen[0].to_dict("list") == {"x": [5.0], "y": [5.0]}
    emit.__globals__["stream"] = later = Stream()  # the notebook makes a new `stream` later on
    seen_later = []
    later.sink(seen_later.append)
    reference(6)
    assert len(seen) == 1 and seen_later[0].to_dict("list") == {"x": [6.0], "y": [6.0]}


@pytest.mark.parametrize("body, says", [
    ('stream.emit({"x": i, "y": i})', "emit(3) sent a dict"),
    ('stream.emit(pd.DataFrame({"x": i, "y": i}))', "wrap them in lists"),
    ('stream.emit(pd.DataFrame({"x": [i]}))', "columns ['x']; expected ['x', 'y']"),
    ('stream.emit(pd.DataFrame({"x": [i], "y": [i * i]}))', "y = 9; expected both to be 3"),
    ("pass", "emit(3) sent nothing into stream"),
    ('stream.emit(pd.DataFrame({"x": [i, i], "y": [i, i]}))', "emit(3) sent 2 rows"),
])
def test_emit_wrong_answers(body, says):
    emit, stream = _emit_exercise(body)
    assert_wrong("03-emit", emit, says=says)


def _buffer():
    example = pd.DataFrame({"close": pd.Series([], dtype=float)},
                           index=pd.DatetimeIndex([], name="timestamp"))
    return hv.streams.Buffer(example, length=200)


def test_sink_solution_placeholder_and_reference():
    buffer, price_stream = _buffer(), Stream()
    assert_not_done("03-sink", price_stream, buffer=buffer)
    check("03-sink", price_stream, buffer=buffer)
    assert_right("03-sink", price_stream, buffer=buffer)
    row = pd.DataFrame({"close": [1.5]}, index=pd.DatetimeIndex([pd.Timestamp("2020-01-01")], name="timestamp"))
    price_stream.emit(row)
    assert buffer.data["close"].tolist() == [1.5]


def test_sink_wrong_answers_and_the_reference_replaces_them():
    buffer, price_stream = _buffer(), Stream()
    price_stream.sink(buffer)
    assert_wrong("03-sink", price_stream, buffer=buffer, says="you passed the buffer itself")
    check("03-sink", price_stream, buffer=buffer)  # replaces the broken connection
    assert_right("03-sink", price_stream, buffer=buffer)
    row = pd.DataFrame({"close": [2.5]}, index=pd.DatetimeIndex([pd.Timestamp("2020-01-01")], name="timestamp"))
    price_stream.emit(row)  # would raise "Buffer is not callable" with the student's node
    assert buffer.data["close"].tolist() == [2.5]

    other = Stream()
    other.sink(buffer.clear)
    assert_wrong("03-sink", other, buffer=buffer, says="you connected buffer.clear")
    printing = Stream()
    printing.sink(print)
    assert_wrong("03-sink", printing, buffer=buffer, says="connected to print, not to buffer.send")


# ---------------------------------------------------------------- 04 the bot

@pytest.fixture
def lesson():
    frame = pd.DataFrame({"close": load_sample("BTC/USD")["close"].head(200)})
    frame["sma10"] = frame["close"].rolling(10).mean()
    frame["sma20"] = frame["close"].rolling(20).mean()
    frame["signal"] = 0.0
    return frame


def test_signal_column(lesson, capsys):
    assert_not_done("04-signal-column", lesson)
    fixed = check("04-signal-column", lesson)
    assert "not done yet" in capsys.readouterr().out
    assert lesson["signal"].sum() == 0  # the student's frame is left alone
    assert_right("04-signal-column", fixed)
    assert 0 < fixed["signal"].sum() < len(fixed)

    solved = lesson.copy()
    solved["signal"] = np.where(solved["sma10"] > solved["sma20"], 1.0, 0.0)
    assert_right("04-signal-column", solved)

    flipped = lesson.copy()
    flipped["signal"] = np.where(flipped["sma10"] > flipped["sma20"], 0.0, 1.0)
    assert_wrong("04-signal-column", flipped, says="the comparison is the wrong way round")
    difference = lesson.copy()
    difference["signal"] = difference["sma10"] - difference["sma20"]
    assert_wrong("04-signal-column", difference, says="expected only 0 and 1")
    late = solved.copy()
    late.iloc[:40, late.columns.get_loc("signal")] = 0.0  # e.g. only from row 40 on
    first = int(np.argmax(solved["signal"].to_numpy()))
    assert first < 40
    assert_wrong("04-signal-column", late, says=f"at {late.index[first]} sma10 =")


UNITS = dict(cash=10_000, price=6626.2, fee=DEFAULT_FEE)


def test_units():
    assert_right("04-units", 10_000 / (6626.2 * (1 + DEFAULT_FEE)), **UNITS)
    assert_not_done("04-units", ..., **UNITS)
    assert_wrong("04-units", 10_000 / 6626.2, **UNITS, says="without the fee")
    assert_wrong("04-units", 10_000 / 6626.2 * (1 - DEFAULT_FEE), **UNITS,
                 says="takes the fee off the units afterwards")
    assert_wrong("04-units", 10_000 / (6626.2 * (1 + 0.26)), **UNITS, says="fee as a percentage")
    assert_wrong("04-units", round(10_000 / 6626.2, 0) * 0.001, **UNITS, says="the lesson's sizing")
    assert_wrong("04-units", "1.5", **UNITS, says="yours is a str")


# ---------------------------------------------------------------- 05 backtesting

def test_fill():
    fee = 0.01
    units, buy_fee, cash, position = fill("buy", 90.0, 0.0, 3.0, fee)
    _, sell_fee, cash, position = fill("sell", cash, position, 4.0, fee)
    assert_right("05-fill", units, buy_fee, sell_fee, cash, position, fee=fee)
    assert_not_done("05-fill", ..., ..., ..., ..., ..., fee=fee)
    assert check("05-fill", ..., ..., ..., ..., ..., fee=fee) == (units, buy_fee, sell_fee, cash, position)

    b_units, b_fee, b_cash, b_position = fill("buy", 90.0, 0.0, 3.0, fee)
    assert_wrong("05-fill", b_units, b_fee, 0.0, b_cash, b_position, fee=fee, says="did not sell")
    _, s_fee, s_cash, s_position = fill("sell", 90.0, 0.0, 4.0, fee)  # the starting values again
    assert_wrong("05-fill", b_units, b_fee, s_fee, s_cash, s_position, fee=fee, says="sold nothing")
    u, bf, c, p = fill("buy", 90.0, 0.0, 4.0, fee)
    _, sf, c, p = fill("sell", c, p, 3.0, fee)
    assert_wrong("05-fill", u, bf, sf, c, p, fee=fee, says="bought at 4.0 and sold at 3.0")
    assert_wrong("05-fill", units, buy_fee, sell_fee, cash + 1, position, fee=fee, says="cash is")


@pytest.fixture(scope="module")
def prices():
    return load_sample("BTC/USD")


def test_backtest(prices):
    right = backtest(prices, short=10, long=20, cash=10_000, fee=DEFAULT_FEE, symbol="BTC/USD")
    assert_right("05-backtest", right, prices=prices)
    assert_not_done("05-backtest", ..., prices=prices)
    back = check("05-backtest", ..., prices=prices)
    assert back.stats == right.stats
    assert_wrong("05-backtest", backtest(prices, short=10, long=20, fee=0), prices=prices,
                 says="paid no fees")
    assert_wrong("05-backtest", backtest(prices, short=5, long=20), prices=prices,
                 says="used SMA 5/20")
    assert_wrong("05-backtest", backtest(prices.head(1000)), prices=prices, says="ran on 1000 bars")
    assert_wrong("05-backtest", backtest(prices, cash=1000), prices=prices, says="started with 1,000.00")
    assert_wrong("05-backtest", right.stats, prices=prices, says="expected what backtest(...) returns")


SHORTS, LONGS = range(5, 55, 5), range(20, 220, 20)


@pytest.fixture(scope="module")
def periods(prices):
    return dict(in_sample=prices.loc[:"2019-12-31"], out_of_sample=prices.loc["2020-01-01":],
                shorts=SHORTS, longs=LONGS)


def test_out_of_sample(periods):
    table_in = sweep(periods["in_sample"], SHORTS, LONGS, fee=DEFAULT_FEE)
    table_out = sweep(periods["out_of_sample"], SHORTS, LONGS, fee=DEFAULT_FEE)
    best = table_in.sort_values("total_return", ascending=False).iloc[0]
    assert_right("05-out-of-sample", table_in, table_out, best, **periods)
    assert_not_done("05-out-of-sample", ..., ..., ..., **periods)
    back = check("05-out-of-sample", ..., ..., ..., **periods)
    assert back[2].equals(best)

    worst = table_in.sort_values("total_return").iloc[0]
    assert_wrong("05-out-of-sample", table_in, table_out, worst, **periods, says="in-sample WORST")
    peeked = table_out.sort_values("total_return", ascending=False).iloc[0]
    assert (peeked["short"], peeked["long"]) != (best["short"], best["long"])
    assert_wrong("05-out-of-sample", table_in, table_out, peeked, **periods, says="best pair of table_out")
    assert_wrong("05-out-of-sample", table_out, table_out, best, **periods,
                 says="table_in is a sweep of out_of_sample")
    whole = sweep(pd.concat([periods["in_sample"], periods["out_of_sample"]]), SHORTS, LONGS,
                  fee=DEFAULT_FEE)
    assert_wrong("05-out-of-sample", table_in, whole, best, **periods,
                 says="table_out is a sweep of the whole of prices")
    assert_wrong("05-out-of-sample", table_in.head(10), table_out, best, **periods,
                 says="table_in has 10 rows; expected 90")


# ---------------------------------------------------------------- 06 your own strategy

RSI_CLASS = """
class MyRsi(Strategy):
    period: int = 14
    lower: float = 30.0
    upper: float = 70.0

    @property
    def warmup(self):
        return self.period + 1

    def rules(self, candles):
        {body}
"""
RSI_SOLUTION = """change = candles["close"].diff()
        gain = change.clip(lower=0).rolling(self.period).mean()
        loss = (-change).clip(lower=0).rolling(self.period).mean()
        rsi = 100 - 100 / (1 + gain / loss)
        return pd.DataFrame({"rsi": rsi, "enter": rsi < self.lower, "exit": rsi > self.upper},
                            index=candles.index)"""


def _rsi_class(body):
    from jarvis_helpers import Strategy

    namespace = {"Strategy": Strategy, "pd": pd, "np": np}
    exec(RSI_CLASS.format(body=body), namespace)
    return namespace["MyRsi"]


def test_rsi_solution_placeholder_and_reference():
    from jarvis_helpers import check_strategy

    assert_right("06-rsi", _rsi_class(RSI_SOLUTION))
    todo = _rsi_class("return ...")
    assert_not_done("06-rsi", todo)
    reference = check("06-rsi", todo)
    assert reference.__name__ == "MyRsi" and issubclass(reference, todo)
    assert_right("06-rsi", reference)
    toy = pd.DataFrame({"close": [10, 11, 12, 11, 10, 9, 10, 12]}, dtype=float,
                       index=pd.date_range("2020-01-01", periods=8, freq="h", tz="UTC"))
    out = reference(period=3).rules(toy)
    assert out["rsi"].round(1).tolist()[3:] == [66.7, 33.3, 0.0, 33.3, 75.0]
    assert out.index[out["enter"]].hour.tolist() == [5] and out.index[out["exit"]].hour.tolist() == [7]
    assert check_strategy(reference(period=5), load_sample("BTC/USD").head(400)).ok


@pytest.mark.parametrize("body, says", [
    (RSI_SOLUTION.replace('"enter": rsi < self.lower, "exit": rsi > self.upper',
                          '"enter": rsi > self.upper, "exit": rsi < self.lower'),
     "enter and exit are swapped"),
    (RSI_SOLUTION.replace("rsi = 100 - 100 / (1 + gain / loss)", "rsi = 100 / (1 + gain / loss)"),
     "your rsi is upside down"),
    (RSI_SOLUTION.replace(".rolling(self.period).mean()", ".ewm(alpha=1 / self.period).mean()"),
     "the plain mean of the last 3 gains and losses"),
    (RSI_SOLUTION.replace('"enter": rsi < self.lower', '"enter": (rsi < self.lower).astype(int)'),
     "enter holds int64 values; it must be True/False"),
    (RSI_SOLUTION.replace('"rsi": rsi, ', ""), "missing ['rsi']"),
    ("return candles.close.diff() / 0", "returned a Series; expected a DataFrame"),
    ("return pd.DataFrame({'rsi': candles.close, 'enter': candles.close < 3, 'exit': candles.close > 4}).reset_index(drop=True)",
     "another index than the candles'"),
    ("raise KeyError('close')", "MyRsi(period=3).rules(candles) raised KeyError"),
])
def test_rsi_wrong_answers(body, says):
    assert_wrong("06-rsi", _rsi_class(body), says=says)


def test_rsi_tuned_to_the_toy_only_is_caught():
    tuned = RSI_SOLUTION.replace("self.period", "3")
    assert_wrong("06-rsi", _rsi_class(tuned), says="on the first 300 hours of the sample")


# ---------------------------------------------------------------- the catalogue

def test_every_exercise_has_a_hint_a_solution_and_a_title():
    assert len(exercises()) == 12
    for name, ex in exercises().items():
        assert ex.name == name and ex.title and str(ex.hint()) and str(ex.solution())


def test_unknown_exercise_and_wrong_arity_are_friendly():
    with pytest.raises(ConfigError, match="did you mean '04-units'"):
        exercise("04-unit")
    with pytest.raises(ConfigError, match="checks 5 value"):
        check("05-fill", 1.0, fee=0.01)
    with pytest.raises(ConfigError, match="missing \\['price'\\]"):
        check("04-units", 1.0, cash=1, fee=0.01)


def test_an_unforeseen_answer_is_a_sentence_not_a_traceback():
    class Odd:
        stats = {"bars": object()}

    v = verdict("05-backtest", Odd(), prices=load_sample("BTC/USD").head(50))
    assert v.status == "wrong" and "bars" in v.message


# ---------------------------------------------------------------- the notebooks

def _solution_blocks():
    """(notebook stem, solution text dedented, the check name after it) for every exercise."""
    import re
    import textwrap
    from pathlib import Path

    import nbformat

    begin, end = re.compile(r"^\s*###\s*BEGIN SOLUTION"), re.compile(r"^\s*###\s*END SOLUTION")
    check_line = re.compile(r"""\bcheck\(\s*["']([\w.-]+)["']""")
    found = []
    for path in sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            lines = cell.source.splitlines()
            for i, line in enumerate(lines):
                if begin.match(line):
                    j = next(k for k in range(i, len(lines)) if end.match(lines[k]))
                    after = next((m.group(1) for line in lines[j:] if (m := check_line.search(line))), None)
                    found.append((path.stem, textwrap.dedent("\n".join(lines[i + 1:j])), after))
    return found


def test_every_notebook_exercise_has_its_check_and_the_package_holds_its_solution():
    blocks = _solution_blocks()
    names = [after for _, _, after in blocks]
    assert sorted(names) == sorted(exercises()), "each exercise of notebooks 01-06 is checked once"
    for stem, solution, name in blocks:
        ex = exercise(name)
        assert ex.notebook == stem, (name, stem)
        assert str(ex.solution()) == solution, f"{name}: exercises.py's solution differs from {stem}'s"
