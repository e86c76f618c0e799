"""Exercises that check themselves: one check per exercise of the workbook.

Each exercise cell of notebooks 01-06 ends with a line like::

    expected = check("04-units", expected, cash=10_000, price=6626.2, fee=account.fee)

``check`` runs the exercise's test on what you wrote and says in one or two sentences
whether it is right, not done yet, or what is wrong (with an example). It then hands back
what the cells below should use: your answer when it is right, the package's own answer
otherwise, so a skipped or unfinished exercise never stops the rest of the notebook.

A student copy starts every exercise from ``...`` (Python's Ellipsis, "fill me in"):
that is how a check knows an exercise is not done yet.

The tests are the plain functions named ``assess_*`` below: read them to see exactly what
is checked. ``exercise(name).hint()`` gives a hint, ``.solution()`` the solution.

>>> r = exercise("04-units").check(10_000 / 6626.2, cash=10_000, price=6626.2, fee=0.0026)
>>> r.status
'wrong'
>>> print(r)
1.509161 is cash / price, without the fee: the fee is paid out of the same cash, so units = cash / (price × (1 + fee)) = 1.505247.
>>> exercise("04-units").check(..., cash=10_000, price=6626.2, fee=0.0026).status
'not done'
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import difflib
import math
import sqlite3
import types
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .errors import ConfigError

TODO = ...  # what a student copy's placeholder assigns: "not done yet"

__all__ = ["TODO", "Exercise", "Verdict", "check", "exercise", "exercises"]


class NotDone(Exception):
    """Raised by a test when the answer is still the placeholder (or untouched)."""


class Wrong(Exception):
    """Raised by a test with the sentence that says what is wrong."""


@dataclass(frozen=True)
class Verdict:
    """The answer of a check: ``status`` is ``"right"``, ``"not done"`` or ``"wrong"``."""

    exercise: str
    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "right"

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"<Verdict {self.exercise}: {self.status}: {self.message}>"

    def _repr_pretty_(self, p, cycle):  # IPython shows the sentence alone
        p.text(self.message)


class Text(str):
    """A string that IPython shows as plain text (a hint, a solution)."""

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def _is_todo(value) -> bool:
    return value is ...


def _call(fn, *args, what: str):
    """Call a student's function; an exception becomes a plain sentence (a Wrong)."""
    try:
        return fn(*args)
    except Exception as exc:  # the student's code: explain it, never a traceback
        raise Wrong(f"{what} raised {type(exc).__name__}: {exc}") from None


def _num(x) -> str:
    return f"{x:.6f}" if isinstance(x, float) else repr(x)


def _run_coroutine(factory):
    """Run ``factory()`` (a coroutine) to the end on a fresh loop in a worker thread.

    Works inside a notebook, whose loop is already running (``run_until_complete`` would not).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


# --------------------------------------------------------------------------------------
# Notebook 01: fetching data
# --------------------------------------------------------------------------------------

def assess_executor(ticker, *, heartbeats: int) -> None:
    """The ticker came back through ``loop.run_in_executor`` and the loop kept beating."""
    if isinstance(ticker, (asyncio.Future, concurrent.futures.Future)) or asyncio.iscoroutine(ticker):
        if asyncio.iscoroutine(ticker):
            ticker.close()
        raise Wrong(f"ticker is a {type(ticker).__name__}, not the ticker: put `await` in front of "
                    "loop.run_in_executor(...) to get its result.")
    if callable(ticker):
        raise Wrong(f"ticker is the function {getattr(ticker, '__name__', ticker)!r} itself: "
                    "await loop.run_in_executor(None, fetch_ticker_blocking) calls it in a thread "
                    "and gives back its answer.")
    if not isinstance(ticker, dict) or "symbol" not in ticker or "last" not in ticker:
        raise Wrong(f"ticker should be the dict fetch_ticker_blocking returns (with 'symbol' and "
                    f"'last'); yours is a {type(ticker).__name__}.")
    if heartbeats <= 0:
        raise Wrong("you got the ticker, but the heartbeat did not beat once while it was fetched: "
                    "the call blocked the loop. Hand the function (no parentheses) to "
                    "loop.run_in_executor(None, fetch_ticker_blocking) and await that.")


def assess_five_ticks(rows) -> None:
    """``rows`` holds five dicts ``{"time": ..., "close": ...}`` from five different ticks."""
    if isinstance(rows, list) and not rows:
        raise NotDone("rows is still empty")
    if not isinstance(rows, list):
        raise Wrong(f"rows should be a list of five dicts; it is a {type(rows).__name__}.")
    if len(rows) != 5:
        raise Wrong(f"rows holds {len(rows)} rows; expected 5, one per `await feed.fetch()`.")
    first = rows[0]
    if hasattr(first, "timestamp") and hasattr(first, "close"):
        raise Wrong("rows holds Tick objects; append one dict per tick instead: "
                    '{"time": tick.timestamp, "close": tick.close}.')
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise Wrong(f"row {i} is a {type(row).__name__}; expected a dict "
                        '{"time": tick.timestamp, "close": tick.close}.')
        if set(row) != {"time", "close"}:
            raise Wrong(f"row {i} has the keys {sorted(row)}; expected exactly 'time' and 'close'.")
        if isinstance(row["close"], bool) or not isinstance(row["close"], (int, float)):
            raise Wrong(f"row {i}'s close is a {type(row['close']).__name__}, not a price: "
                        "use tick.close.")
    times = [row["time"] for row in rows]
    if len(set(times)) == 1:
        raise Wrong(f"all five rows have the same time ({times[0]}): fetch a new tick inside the "
                    "loop, `tick = await feed.fetch()` each time round.")
    for i in range(1, 5):
        if not times[i] > times[i - 1]:
            raise Wrong(f"the times do not increase: row {i} ({times[i]}) is not after row "
                        f"{i - 1} ({times[i - 1]}).")


async def reference_five_ticks(feed: str) -> list[dict]:
    """The package's answer: five ticks from a fresh feed of the same spec."""
    from .feeds import open_feed

    source = open_feed(feed)
    rows = []
    try:
        for _ in range(5):
            tick = await source.fetch()
            rows.append({"time": tick.timestamp, "close": tick.close})
    finally:
        await source.close()
    return rows


# --------------------------------------------------------------------------------------
# Notebook 02: persisting data
# --------------------------------------------------------------------------------------

HOSTILE = "XRP/USD' OR '1'='1"
TEST_PRICES = [("BTC/USD", 6626.2), ("ETH/USD", 232.1)]


def _prices_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE prices (symbol TEXT, close REAL)")
    db.executemany("INSERT INTO prices VALUES (?, ?)", TEST_PRICES)
    db.commit()
    return db


def _explain_sql_error(what: str, exc: Exception) -> str:
    text = str(exc)
    if "bindings" in text:
        return (f"{what} raised {type(exc).__name__}: {text} params must be a tuple, "
                "params=(symbol,) with the comma: (symbol) is just the string, and each of its "
                "characters counts as one value.")
    if "syntax error" in text and "%" in text:
        return (f"{what} raised {type(exc).__name__}: {text} sqlite3 marks a value with ?, "
                "not %s.")
    return f"{what} raised {type(exc).__name__}: {text}"


def assess_parameterised(prices_of) -> None:
    """``prices_of(db, symbol)`` finds a real symbol and nothing for a hostile one."""
    db = _prices_db()
    try:
        results = {}
        for symbol in ("BTC/USD", HOSTILE):
            what = f"prices_of(db, {symbol!r})"
            try:
                results[symbol] = prices_of(db, symbol)
            except Exception as exc:
                raise Wrong(_explain_sql_error(what, exc)) from None
            if _is_todo(results[symbol]):
                raise NotDone("prices_of returns ...")
            if not isinstance(results[symbol], pd.DataFrame):
                raise Wrong(f"{what} returned a {type(results[symbol]).__name__}; expected the "
                            "DataFrame pd.read_sql gives back.")
    finally:
        db.close()
    hostile = results[HOSTILE]
    if len(hostile) > 0:
        raise Wrong(f"for the symbol {HOSTILE!r} your query returned {len(hostile)} rows, every row "
                    "of the table: the symbol was pasted into the SQL. Put a ? in the SQL and "
                    "pass params=(symbol,).")
    btc = results["BTC/USD"]
    if len(btc) != 1:
        quoted = " Is the ? inside quotes? Write symbol = ? without quotes: the database adds them."
        raise Wrong(f"for 'BTC/USD' your query found {len(btc)} rows; expected 1 (close 6626.2)."
                    + (quoted if len(btc) == 0 else ""))


def reference_prices_of(db, symbol):
    """The package's answer to 02-parameterised."""
    return pd.read_sql("SELECT * FROM prices WHERE symbol = ?", db, params=(symbol,))


def assess_recent(recent, *, store) -> None:
    """``recent`` is the three newest ticks of bot "twice", oldest first."""
    if not isinstance(recent, pd.DataFrame):
        raise Wrong(f"recent is a {type(recent).__name__}; expected the DataFrame "
                    "store.recent_ticks gives back.")
    expected = store.recent_ticks(3, bot="twice")
    if recent.empty:
        raise Wrong('recent is empty: did you pass bot="twice"? The store keeps each bot\'s '
                    "ticks under its name.")
    if len(recent) != 3:
        raise Wrong(f"recent has {len(recent)} rows; expected 3: store.recent_ticks(3, bot=\"twice\").")
    times, want = list(recent.index), list(expected.index)
    if times == want:
        return
    if times == want[::-1]:
        raise Wrong("you have the right three ticks, newest first; expected them in time order "
                    "(oldest first), as recent_ticks returns them.")
    oldest = store.recent_ticks(10, bot="twice").index[:3]
    if times == list(oldest):
        raise Wrong(f"your rows start at {times[0]}, the oldest ticks; the three newest start "
                    f"at {want[0]}.")
    raise Wrong(f"your rows are at {[str(t) for t in times]}; expected {[str(t) for t in want]}.")


# --------------------------------------------------------------------------------------
# Notebook 03: streaming plots
# --------------------------------------------------------------------------------------

def _with_global(fn, name: str, value):
    """A copy of function ``fn`` that sees ``value`` under the global ``name``."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, name: value}, fn.__name__,
                              fn.__defaults__, fn.__closure__)


def assess_emit(emit) -> None:
    """``emit(3)`` sends one DataFrame row with x = y = 3 into ``stream``.

    It calls a copy of ``emit`` that sees a fresh probe stream as its global ``stream``,
    so the notebook's own stream (and its plot) receives nothing.
    """
    from streamz import Stream

    if not callable(emit):
        raise Wrong(f"emit is a {type(emit).__name__}; expected the function def emit(i): ...")
    probe, sent = Stream(), []
    node = probe.sink(sent.append)
    try:
        returned = _call(_with_global(emit, "stream", probe), 3, what="emit(3)")
    except Wrong as exc:
        if "If using all scalar values" in str(exc):
            raise Wrong(f"{exc} With single numbers, wrap them in lists: "
                        '{"x": [i], "y": [i]} makes one row.') from None
        raise
    finally:
        node.destroy()
    if not sent:
        if _is_todo(returned):
            raise NotDone("emit returns ...")
        raise Wrong("emit(3) sent nothing into stream: call stream.emit(...) with a one-row DataFrame.")
    if len(sent) > 1:
        raise Wrong(f"emit(3) called stream.emit {len(sent)} times; once, with one row, is enough.")
    frame = sent[0]
    if isinstance(frame, dict):
        raise Wrong("emit(3) sent a dict; the plot needs a pandas DataFrame: "
                    'pd.DataFrame({"x": [3.0], "y": [3.0]}).')
    if not isinstance(frame, pd.DataFrame):
        raise Wrong(f"emit(3) sent a {type(frame).__name__}; expected a one-row pandas DataFrame "
                    "with columns x and y.")
    if list(frame.columns) != ["x", "y"]:
        raise Wrong(f"emit(3) sent a frame with columns {list(frame.columns)}; expected ['x', 'y'], "
                    "the columns of `example`.")
    if len(frame) != 1:
        raise Wrong(f"emit(3) sent {len(frame)} rows; expected one.")
    got = (frame["x"].iloc[0], frame["y"].iloc[0])
    if got != (3, 3):
        x, y = (v.item() if isinstance(v, np.generic) else v for v in got)
        raise Wrong(f"emit(3) sent x = {x!r}, y = {y!r}; expected both to be 3.")


def reference_emit(emit):
    """The package's answer to 03-emit: it sends to whatever the notebook's global
    ``stream`` is when it is called (as the student's ``emit`` does)."""
    namespace = getattr(emit, "__globals__", None)
    if namespace is None:
        raise ConfigError("03-emit: give check the function emit itself")

    def reference(i):
        namespace["stream"].emit(pd.DataFrame({"x": [float(i)], "y": [float(i)]}))

    reference.__name__ = "emit"
    return reference


def _downstream_nodes(stream) -> list:
    seen, todo = [], list(stream.downstreams)
    while todo:
        node = todo.pop(0)
        if node not in seen:
            seen.append(node)
            todo.extend(node.downstreams)
    return seen


def assess_sink(price_stream, *, buffer) -> None:
    """Something downstream of ``price_stream`` calls ``buffer.send``."""
    nodes = _downstream_nodes(price_stream)
    if not nodes:
        raise NotDone("nothing is connected to price_stream")
    funcs = [getattr(node, "func", None) for node in nodes]
    if any(f == buffer.send for f in funcs):
        return
    if any(f is buffer for f in funcs):
        raise Wrong("you passed the buffer itself; pass its method: price_stream.sink(buffer.send).")
    for f in funcs:
        if getattr(f, "__self__", None) is buffer:
            raise Wrong(f"you connected buffer.{f.__name__}; rows go into a Buffer with "
                        "buffer.send: price_stream.sink(buffer.send).")
    shown = ", ".join(getattr(f, "__name__", repr(f)) for f in funcs if f is not None) or "a node"
    raise Wrong(f"price_stream is connected to {shown}, not to buffer.send: "
                "price_stream.sink(buffer.send).")


# --------------------------------------------------------------------------------------
# Notebook 04: the bot
# --------------------------------------------------------------------------------------

def _signal_rule(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["sma10"] > frame["sma20"], 1.0, 0.0)


def assess_signal_column(lesson) -> None:
    """``lesson["signal"]`` is 1.0 where sma10 > sma20, else 0.0, on every row."""
    if not isinstance(lesson, pd.DataFrame) or "signal" not in lesson:
        raise Wrong('lesson should be the DataFrame with a "signal" column.')
    try:
        got = np.asarray(lesson["signal"], dtype=float)
    except (TypeError, ValueError):
        raise Wrong(f'lesson["signal"] holds {lesson["signal"].dtype} values, not numbers.') from None
    if np.nansum(np.abs(got)) == 0:
        raise NotDone("the signal column is still all 0")
    expected = _signal_rule(lesson)
    odd = ~np.isin(got, (0.0, 1.0))
    if odd.any():
        i = int(np.argmax(odd))
        raise Wrong(f'lesson["signal"] is {got[i]} at {lesson.index[i]}; expected only 0 and 1: '
                    "np.where(condition, 1.0, 0.0).")
    if np.array_equal(got, 1.0 - expected):
        i = int(np.argmax(got == 1.0))
        raise Wrong(f"signal is 1 where sma10 is below sma20 (e.g. at {lesson.index[i]}): the "
                    "comparison is the wrong way round.")
    wrong = got != expected
    if wrong.any():
        i = int(np.argmax(wrong))
        row = lesson.iloc[i]
        raise Wrong(f"at {lesson.index[i]} sma10 = {row['sma10']:.2f} and sma20 = {row['sma20']:.2f}: "
                    f"signal should be {expected[i]:.0f}, yours is {got[i]:g}.")


def reference_signal_column(lesson: pd.DataFrame) -> pd.DataFrame:
    """The package's answer to 04-signal-column (a new frame; the input is not changed)."""
    fixed = lesson.copy()
    fixed["signal"] = _signal_rule(fixed)
    return fixed


def assess_units(expected, *, cash: float, price: float, fee: float) -> None:
    """``expected`` is the units a buy gets: cash / (price × (1 + fee))."""
    if isinstance(expected, bool) or not isinstance(expected, (int, float, np.number)):
        raise Wrong(f"expected should be a number of units; yours is a {type(expected).__name__}.")
    right = cash / (price * (1 + fee))
    if math.isclose(expected, right, rel_tol=1e-9):
        return
    if math.isclose(expected, cash / price, rel_tol=1e-9):
        raise Wrong(f"{expected:.6f} is cash / price, without the fee: the fee is paid out of the "
                    f"same cash, so units = cash / (price × (1 + fee)) = {right:.6f}.")
    if math.isclose(expected, cash / price * (1 - fee), rel_tol=1e-9):
        raise Wrong(f"close: {expected:.6f} takes the fee off the units afterwards; the cash pays "
                    f"for the units and their fee together: cash / (price × (1 + fee)) = {right:.6f}.")
    if math.isclose(expected, cash / (price * (1 + 100 * fee)), rel_tol=1e-9):
        raise Wrong(f"{expected:.6f} uses the fee as a percentage ({100 * fee:g}); account.fee is "
                    f"already a fraction ({fee:g}). Expected {right:.6f}.")
    if expected == round(cash / price, 0) * 0.001:
        raise Wrong(f"{expected} is the lesson's sizing, round(cash / price, 0) × 0.001; the rule "
                    f"spends all the cash: cash / (price × (1 + fee)) = {right:.6f}.")
    raise Wrong(f"you expect {expected:.6f} units; the rule gives cash / (price × (1 + fee)) = "
                f"{cash} / ({price} × (1 + {fee:g})) = {right:.6f}.")


# --------------------------------------------------------------------------------------
# Notebook 05: backtesting
# --------------------------------------------------------------------------------------

FILL_NAMES = ("units", "buy_fee", "sell_fee", "cash", "position")


def reference_fill(*, fee: float, cash: float = 90.0, buy: float = 3.0, sell: float = 4.0):
    """The package's answer to 05-fill: ``(units, buy_fee, sell_fee, cash, position)``."""
    from .account import fill

    units, buy_fee, cash, position = fill("buy", cash, 0.0, buy, fee)
    _, sell_fee, cash, position = fill("sell", cash, position, sell, fee)
    return units, buy_fee, sell_fee, cash, position


def _close(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False


def assess_fill(units, buy_fee, sell_fee, cash, position, *, fee: float) -> None:
    """Buy at 3.0 with all 90 dollars, sell everything at 4.0, with ``fill``."""
    got = (units, buy_fee, sell_fee, cash, position)
    for name, value in zip(FILL_NAMES, got):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise Wrong(f"{name} should be a number; yours is a {type(value).__name__}.")
    want = reference_fill(fee=fee)
    if all(_close(g, w) for g, w in zip(got, want)):
        return
    if position > 0 and _close(cash, 0.0):
        raise Wrong(f"you bought ({position:.4f} units) but did not sell: sell the whole position "
                    'at 4.0 with fill("sell", cash, position, 4.0, fee).')
    if _close(sell_fee, 0.0) and _close(position, 0.0) and _close(cash, 90.0):
        raise Wrong("your sell sold nothing: pass it the cash and position the buy gave back "
                    "(fill returns units, fee, cash_after, position_after).")
    if all(_close(g, w) for g, w in zip(got, reference_fill(fee=fee, buy=4.0, sell=3.0))):
        raise Wrong("you bought at 4.0 and sold at 3.0; the signal buys at 3.0 (06:00) and sells "
                    "at 4.0 (11:00).")
    if all(_close(g, w) for g, w in zip(got, reference_fill(fee=fee * 100))):
        raise Wrong(f"you used the fee as a percentage ({fee * 100:g}); fee is a fraction ({fee:g}).")
    for name, g, w in zip(FILL_NAMES, got, want):
        if not _close(g, w):
            raise Wrong(f"{name} is {_num(float(g))}; expected {_num(w)}.")


def _result_figure(result, name):
    value = getattr(result, name, None)
    return result.stats.get(name) if value is None else value


def assess_backtest(result, *, prices) -> None:
    """``result`` is the SMA 10/20 backtest of all of ``prices`` with 10,000 and DEFAULT_FEE."""
    from .account import DEFAULT_FEE
    from .backtest import backtest

    stats = getattr(result, "stats", None)
    if not isinstance(stats, dict):
        raise Wrong(f"result is a {type(result).__name__}; expected what backtest(...) returns.")
    want = backtest(prices, short=10, long=20, cash=10_000, fee=DEFAULT_FEE).stats
    if stats.get("bars") != want["bars"]:
        raise Wrong(f"your backtest ran on {stats.get('bars')} bars; expected all {want['bars']} "
                    "candles of prices.")
    pair = (_result_figure(result, "short"), _result_figure(result, "long"))
    if None not in pair and pair != (10, 20):
        raise Wrong(f"your backtest used SMA {pair[0]}/{pair[1]}; the lesson's strategy is "
                    "short=10, long=20.")
    if not _close(stats.get("fee"), DEFAULT_FEE):
        if _close(stats.get("fee"), 0.0):
            raise Wrong(f"your backtest paid no fees; pass fee=DEFAULT_FEE ({DEFAULT_FEE:g}).")
        raise Wrong(f"your backtest used fee={stats.get('fee')}; expected DEFAULT_FEE ({DEFAULT_FEE:g}).")
    if not _close(stats.get("cash"), 10_000):
        raise Wrong(f"your backtest started with {stats.get('cash'):,.2f}; expected cash=10_000.")
    if not _close(stats.get("final_equity"), want["final_equity"]):
        raise Wrong(f"your final equity is {stats.get('final_equity'):,.2f}; expected "
                    f"{want['final_equity']:,.2f}.")


def reference_backtest(prices):
    """The package's answer to 05-backtest."""
    from .account import DEFAULT_FEE
    from .backtest import backtest

    return backtest(prices, short=10, long=20, cash=10_000, fee=DEFAULT_FEE, symbol="BTC/USD")


def _sweep_period(table, name, *, in_sample, out_of_sample, shorts, longs) -> None:
    from .account import DEFAULT_FEE
    from .backtest import backtest

    if not isinstance(table, pd.DataFrame) or not {"short", "long", "total_return"} <= set(table):
        raise Wrong(f"{name} should be the DataFrame sweep(...) returns; yours is a "
                    f"{type(table).__name__}.")
    pairs = sum(1 for s in shorts for lo in longs if s < lo)
    if len(table) != pairs:
        raise Wrong(f"{name} has {len(table)} rows; expected {pairs}, one per pair of shorts and "
                    "longs with short < long.")
    row = table.iloc[0]
    s, lo = int(row["short"]), int(row["long"])
    periods = {"in_sample": in_sample, "out_of_sample": out_of_sample,
               "the whole of prices": pd.concat([in_sample, out_of_sample])}
    returns = {label: backtest(data, short=s, long=lo, fee=DEFAULT_FEE).stats["total_return"]
               for label, data in periods.items()}
    want = "in_sample" if name == "table_in" else "out_of_sample"
    if _close(row["total_return"], returns[want]):
        return
    for label, value in returns.items():
        if _close(row["total_return"], value):
            raise Wrong(f"{name} is a sweep of {label}; expected a sweep of {want}.")
    raise Wrong(f"{name} says SMA {s}/{lo} made {row['total_return']:+.4f} but a backtest of "
                f"{want} with DEFAULT_FEE gives {returns[want]:+.4f}: sweep {want} with "
                "fee=DEFAULT_FEE.")


def assess_out_of_sample(table_in, table_out, best, *, in_sample, out_of_sample, shorts, longs) -> None:
    """Both sweeps are of the right period; ``best`` is the in-sample row with the top return."""
    periods = dict(in_sample=in_sample, out_of_sample=out_of_sample, shorts=shorts, longs=longs)
    _sweep_period(table_in, "table_in", **periods)
    _sweep_period(table_out, "table_out", **periods)
    try:
        pick = (int(best["short"]), int(best["long"]))
    except (TypeError, KeyError, IndexError, ValueError):
        raise Wrong(f"best should be one row of table_in (with short and long); yours is a "
                    f"{type(best).__name__}.") from None

    def pair(table, i):
        return int(table["short"].iloc[i]), int(table["long"].iloc[i])

    ranks_in = table_in["total_return"].to_numpy()
    top = pair(table_in, int(np.argmax(ranks_in)))
    if pick == top:
        return
    if pick == pair(table_in, int(np.argmin(ranks_in))):
        raise Wrong(f"best (SMA {pick[0]}/{pick[1]}) is the in-sample WORST pair: sort with "
                    "ascending=False to put the highest total_return first.")
    if pick == pair(table_out, int(np.argmax(table_out["total_return"].to_numpy()))):
        raise Wrong(f"best (SMA {pick[0]}/{pick[1]}) is the best pair of table_out: that peeks at "
                    "the period you judge on. Pick it from table_in.")
    raise Wrong(f"best is SMA {pick[0]}/{pick[1]}; the in-sample row with the highest total_return "
                f"is SMA {top[0]}/{top[1]}.")


def reference_out_of_sample(*, in_sample, out_of_sample, shorts, longs):
    """The package's answer to 05-out-of-sample: ``(table_in, table_out, best)``."""
    from .account import DEFAULT_FEE
    from .backtest import sweep

    table_in = sweep(in_sample, shorts, longs, fee=DEFAULT_FEE)
    table_out = sweep(out_of_sample, shorts, longs, fee=DEFAULT_FEE)
    best = table_in.sort_values("total_return", ascending=False).iloc[0]
    return table_in, table_out, best


# --------------------------------------------------------------------------------------
# Notebook 06: your own strategy
# --------------------------------------------------------------------------------------

TOY_CLOSES = [10.0, 11.0, 12.0, 11.0, 10.0, 9.0, 10.0, 12.0]


def reference_rsi_rules(self, candles):
    """The package's answer to 06-rsi: the body of ``MyRsi.rules``."""
    change = candles["close"].diff()
    gain = change.clip(lower=0).rolling(self.period).mean()
    loss = (-change).clip(lower=0).rolling(self.period).mean()
    rsi = 100 - 100 / (1 + gain / loss)
    return pd.DataFrame({"rsi": rsi, "enter": rsi < self.lower, "exit": rsi > self.upper},
                        index=candles.index)


def _rsi_cases():
    hours = pd.date_range("2020-01-01", periods=len(TOY_CLOSES), freq="h", tz="UTC")
    toy = pd.DataFrame({"close": TOY_CLOSES}, index=hours)
    from .data import load_sample

    sample = load_sample("BTC/USD").head(300)
    return [("MyRsi(period=3)", {"period": 3}, toy, "toy"),
            ("MyRsi()", {}, sample, "the first 300 hours of the sample")]


def _same(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.isclose(a, b, rtol=1e-9, atol=1e-9) | (np.isnan(a) & np.isnan(b))


def assess_rsi(MyRsi) -> None:
    """``MyRsi(...).rules(candles)`` gives the reference rsi, enter and exit on the 8 toy
    closes (period 3) and on 300 hours of the sample (the default period 14)."""
    from .strategy import Strategy

    if not (isinstance(MyRsi, type) and issubclass(MyRsi, Strategy)):
        raise Wrong(f"MyRsi should be the class (class MyRsi(Strategy): ...); yours is a "
                    f"{type(MyRsi).__name__}.")
    for label, params, candles, where in _rsi_cases():
        strategy = _call(lambda: MyRsi(**params), what=label)
        out = _call(strategy.rules, candles.copy(), what=f"{label}.rules(candles)")
        if _is_todo(out):
            raise NotDone("rules returns ...")
        if not isinstance(out, pd.DataFrame):
            raise Wrong(f"{label}.rules returned a {type(out).__name__}; expected a DataFrame with "
                        "columns rsi, enter and exit.")
        missing = [c for c in ("rsi", "enter", "exit") if c not in out]
        if missing:
            raise Wrong(f"{label}.rules returned the columns {list(out.columns)}; missing {missing}.")
        if not out.index.equals(candles.index):
            raise Wrong(f"{label}.rules returned another index than the candles'; build the frame "
                        "with index=candles.index.")
        want = reference_rsi_rules(strategy, candles)
        same = _same(out["rsi"], want["rsi"])
        if not same.all():
            if _same(100 - np.asarray(out["rsi"], dtype=float), want["rsi"]).all():
                raise Wrong(f"on {where} your rsi is upside down (100 minus the right value): "
                            "rsi = 100 − 100 / (1 + gain / loss), the average gain over the average loss.")
            i = int(np.argmin(same))
            raise Wrong(f"on {where}, at {candles.index[i]:%Y-%m-%d %H:%M} your rsi is "
                        f"{float(out['rsi'].iloc[i]):.2f}; expected {float(want['rsi'].iloc[i]):.2f} "
                        f"(the plain mean of the last {strategy.period} gains and losses).")
        for col in ("enter", "exit"):
            if out[col].dtype != bool:
                raise Wrong(f"{col} holds {out[col].dtype} values; it must be True/False, e.g. "
                            "rsi < self.lower.")
        if out["enter"].equals(want["exit"]) and out["exit"].equals(want["enter"]):
            raise Wrong("enter and exit are swapped: enter when rsi < lower (oversold), exit when "
                        "rsi > upper (overbought).")
        for col in ("enter", "exit"):
            differ = out[col].to_numpy() != want[col].to_numpy()
            if differ.any():
                i = int(np.argmax(differ))
                raise Wrong(f"on {where}, at {candles.index[i]:%Y-%m-%d %H:%M} rsi is "
                            f"{float(want['rsi'].iloc[i]):.1f}: {col} should be "
                            f"{bool(want[col].iloc[i])}, yours is {bool(out[col].iloc[i])}.")


def reference_rsi(MyRsi):
    """The package's answer to 06-rsi: ``MyRsi`` with the reference ``rules``."""
    from .strategy import Strategy

    if isinstance(MyRsi, type) and issubclass(MyRsi, Strategy):
        return type(MyRsi.__name__, (MyRsi,), {"rules": reference_rsi_rules,
                                               "__doc__": MyRsi.__doc__, "__module__": MyRsi.__module__})

    class ReferenceRsi(Strategy):
        """RSI mean reversion: buy when the RSI falls below `lower`, sell when it rises above `upper`."""

        period: int = 14
        lower: float = 30.0
        upper: float = 70.0
        rules = reference_rsi_rules

        @property
        def warmup(self):
            return self.period + 1

    ReferenceRsi.__name__ = ReferenceRsi.__qualname__ = "MyRsi"
    return ReferenceRsi


# --------------------------------------------------------------------------------------
# The exercises
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exercise:
    """One exercise: its test, a hint, the solution and the package's own answer."""

    name: str
    notebook: str
    title: str
    values: tuple[str, ...]
    test: Callable
    reference: Callable
    hint_text: str
    solution_code: str
    context: tuple[str, ...] = field(default=())

    def check(self, *values, **context) -> Verdict:
        """Run the test on ``values``; a Verdict saying right, not done yet, or what is wrong."""
        self._arity(values, context)
        if any(_is_todo(v) for v in values):
            return Verdict(self.name, "not done", f"Exercise {self.name} is not done yet.")
        try:
            self.test(*values, **context)
        except NotDone:
            return Verdict(self.name, "not done", f"Exercise {self.name} is not done yet.")
        except Wrong as exc:
            return Verdict(self.name, "wrong", str(exc))
        except Exception as exc:  # an answer of a shape the test did not foresee
            return Verdict(self.name, "wrong",
                           f"your answer could not be checked ({type(exc).__name__}: {exc}); "
                           f"exercise(\"{self.name}\").hint() may help.")
        return Verdict(self.name, "right", f"Exercise {self.name}: right.")

    def use(self, *values, verdict: Verdict | None = None, **context):
        """What the cells below use: ``values`` when right, the package's answer otherwise."""
        verdict = verdict or self.check(*values, **context)
        if verdict.ok:
            return values[0] if len(values) == 1 else values
        return self.reference(*values, **context)

    def hint(self) -> Text:
        return Text(self.hint_text)

    def solution(self) -> Text:
        return Text(self.solution_code)

    def _arity(self, values, context) -> None:
        if len(values) != len(self.values):
            raise ConfigError(f"exercise {self.name!r} checks {len(self.values)} value(s) "
                              f"({', '.join(self.values)}); got {len(values)}.")
        missing = [k for k in self.context if k not in context]
        unknown = [k for k in context if k not in self.context]
        if missing or unknown:
            raise ConfigError(f"exercise {self.name!r} needs {', '.join(self.context) or 'no'} "
                              f"keyword(s); missing {missing}, unknown {unknown}.")

    def __repr__(self) -> str:
        return f"<Exercise {self.name}: {self.title} (notebook {self.notebook})>"


def _ref_executor(ticker, *, heartbeats, fetch):
    return fetch()


def _assess_executor(ticker, *, heartbeats, fetch):
    assess_executor(ticker, heartbeats=heartbeats)


def _ref_sink(price_stream, *, buffer):
    for node in _downstream_nodes(price_stream):
        if node in price_stream.downstreams:
            node.destroy()  # a wrong connection would fail on the first emit
    price_stream.sink(buffer.send)
    return price_stream


_EXERCISES = [
    Exercise(
        "01-executor", "01_fetching_data", "a blocking call in a thread", ("ticker",),
        _assess_executor, _ref_executor,
        "loop.run_in_executor(None, function) runs the function in a thread and returns "
        "something to await; pass the function itself, without parentheses.",
        "ticker = await loop.run_in_executor(None, fetch_ticker_blocking)",
        ("heartbeats", "fetch")),
    Exercise(
        "01-five-ticks", "01_fetching_data", "five ticks from a feed", ("rows",),
        lambda rows, *, feed: assess_five_ticks(rows),
        lambda rows, *, feed: _run_coroutine(lambda: reference_five_ticks(feed)),
        "A for loop over range(5); inside it, tick = await feed.fetch() and "
        'rows.append({"time": tick.timestamp, "close": tick.close}).',
        "for _ in range(5):\n"
        "    tick = await feed.fetch()\n"
        '    rows.append({"time": tick.timestamp, "close": tick.close})',
        ("feed",)),
    Exercise(
        "02-parameterised", "02_persisting_data", "a parameterised query", ("prices_of",),
        assess_parameterised, lambda prices_of: reference_prices_of,
        "Write ? where the value goes (no quotes around it) and pass the value separately: "
        "pd.read_sql(sql, db, params=(symbol,)).",
        'return pd.read_sql("SELECT * FROM prices WHERE symbol = ?", db, params=(symbol,))'),
    Exercise(
        "02-recent", "02_persisting_data", "the newest ticks", ("recent",),
        assess_recent, lambda recent, *, store: store.recent_ticks(3, bot="twice"),
        'store.recent_ticks(n, bot=...) returns the newest n ticks of one bot, oldest first.',
        'recent = store.recent_ticks(3, bot="twice")',
        ("store",)),
    Exercise(
        "03-emit", "03_streaming_plots", "emit one row", ("emit",),
        assess_emit, reference_emit,
        "stream.emit(frame) with frame = pd.DataFrame({...}): lists of one value make one row.",
        'stream.emit(pd.DataFrame({"x": [float(i)], "y": [float(i)]}))'),
    Exercise(
        "03-sink", "03_streaming_plots", "connect a stream to a buffer", ("price_stream",),
        assess_sink, _ref_sink,
        "stream.sink(f) calls f with every item; a Buffer takes new rows with its send method.",
        "price_stream.sink(buffer.send)",
        ("buffer",)),
    Exercise(
        "04-signal-column", "04_jarvis_bot", "a whole-column assignment", ("lesson",),
        assess_signal_column, reference_signal_column,
        'Assign the whole column at once: lesson["signal"] = np.where(condition, 1.0, 0.0).',
        'lesson["signal"] = np.where(lesson["sma10"] > lesson["sma20"], 1.0, 0.0)'),
    Exercise(
        "04-units", "04_jarvis_bot", "units of a buy", ("expected",),
        assess_units, lambda expected, *, cash, price, fee: cash / (price * (1 + fee)),
        "All the cash pays for the units and the fee on them: units × price × (1 + fee) = cash.",
        "expected = 10_000 / (6626.2 * (1 + account.fee))",
        ("cash", "price", "fee")),
    Exercise(
        "05-fill", "05_backtesting", "the fill rule by hand", FILL_NAMES,
        assess_fill, lambda *values, fee: reference_fill(fee=fee),
        'fill("buy", cash, position, 3.0, fee) returns units, fee paid, cash and position after '
        "the buy; hand the last two to the sell at 4.0.",
        'units, buy_fee, cash, position = fill("buy", cash, position, 3.0, fee)\n'
        '_, sell_fee, cash, position = fill("sell", cash, position, 4.0, fee)',
        ("fee",)),
    Exercise(
        "05-backtest", "05_backtesting", "backtest the lesson's strategy", ("result",),
        assess_backtest, lambda result, *, prices: reference_backtest(prices),
        "backtest(prices, short=..., long=..., cash=..., fee=...) returns a result with .report().",
        'result = backtest(prices, short=10, long=20, cash=10_000, fee=DEFAULT_FEE, symbol="BTC/USD")',
        ("prices",)),
    Exercise(
        "05-out-of-sample", "05_backtesting", "choose in sample, judge out of sample",
        ("table_in", "table_out", "best"),
        assess_out_of_sample, lambda *values, **periods: reference_out_of_sample(**periods),
        "sweep(period, shorts, longs, fee=DEFAULT_FEE) for each period; the best in-sample row "
        'comes first after sort_values("total_return", ascending=False).',
        "table_in = sweep(in_sample, shorts, longs, fee=DEFAULT_FEE)\n"
        "table_out = sweep(out_of_sample, shorts, longs, fee=DEFAULT_FEE)\n"
        'best = table_in.sort_values("total_return", ascending=False).iloc[0]',
        ("in_sample", "out_of_sample", "shorts", "longs")),
    Exercise(
        "06-rsi", "06_your_own_strategy", "the rules of an RSI strategy", ("MyRsi",),
        assess_rsi, reference_rsi,
        "change = candles['close'].diff(); the average gain is change.clip(lower=0) over a "
        "rolling window of self.period, the average loss the same of -change; "
        "rsi = 100 - 100 / (1 + gain / loss).",
        'change = candles["close"].diff()\n'
        'gain = change.clip(lower=0).rolling(self.period).mean()\n'
        'loss = (-change).clip(lower=0).rolling(self.period).mean()\n'
        "rsi = 100 - 100 / (1 + gain / loss)\n"
        'return pd.DataFrame({"rsi": rsi, "enter": rsi < self.lower, "exit": rsi > self.upper},\n'
        "                    index=candles.index)"),
]
_BY_NAME = {ex.name: ex for ex in _EXERCISES}


def exercises() -> dict[str, Exercise]:
    """Every exercise of the workbook by name, in notebook order.

    >>> list(exercises())[:2]
    ['01-executor', '01-five-ticks']
    """
    return dict(_BY_NAME)


def exercise(name: str) -> Exercise:
    """The exercise called ``name``; a friendly ConfigError for an unknown name.

    >>> exercise("04-unit")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: no exercise '04-unit': did you mean '04-units'? (exercises: 01-executor, 01-five-ticks, 02-parameterised, 02-recent, 03-emit, 03-sink, 04-signal-column, 04-units, 05-fill, 05-backtest, 05-out-of-sample, 06-rsi)
    """
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_BY_NAME), n=1)
        maybe = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"no exercise {name!r}: {maybe}(exercises: {', '.join(_BY_NAME)})") from None


def check(name: str, *values, **context):
    """Check an exercise, print one plain verdict, and return what the cells below use.

    Right: your values come back unchanged. Not done or wrong: the verdict says so once, and
    the package's own answer comes back so the rest of the notebook keeps working.

    >>> expected = check("04-units", ..., cash=10_000, price=6626.2, fee=0.0026)
    Exercise 04-units is not done yet. The cells below carry on with the package's answer (exercise("04-units").solution() shows it).
    >>> round(expected, 6)
    1.505247
    """
    ex = exercise(name)
    verdict = ex.check(*values, **context)
    if verdict.ok:
        print(verdict.message)
    else:
        lead = "" if verdict.status == "not done" else f"Exercise {name}: "
        print(f"{lead}{verdict.message} The cells below carry on with the package's answer "
              f'(exercise("{name}").solution() shows it).')
    return ex.use(*values, verdict=verdict, **context)
