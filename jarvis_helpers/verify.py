"""Live checked against backtest: a bot's stored fills against a backtest of its recorded
strategy on the very bars it stored.

``verify(store, name)`` reads the bot's configuration (strategy, parameters, cash, fee),
its stored ticks or candles (open high low close volume) and its trade ledger, runs
``backtest`` on those bars and compares fill by fill: time, side, price and units. The
report's ``ok`` is True when they are identical; otherwise ``difference`` names the first
one (and ``str(report)`` says it in a sentence).

>>> import asyncio
>>> from jarvis_helpers import Bot, Store
>>> store = Store("sqlite://")
>>> _ = asyncio.run(Bot("replay", store, name="demo", interval=0).run(max_ticks=300))
>>> report = verify(store, "demo")
>>> report.ok, report.fills
(True, 16)
>>> print(report)
bot 'demo': 16 fills on 300 bars, identical to the backtest of sma (short=10, long=20)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .errors import ConfigError
from .store import Store

__all__ = ["verify", "VerifyReport"]

REL_TOL = 1e-9  # prices and units agree to this relative tolerance (same arithmetic both sides)


@dataclass
class VerifyReport:
    """What ``verify`` found. ``difference``: None, or a dict with ``time``, ``what`` and
    the ``live`` and ``backtest`` fills at that point (``side``, ``price``, ``units``)."""

    name: str
    strategy: str
    bars: int
    fills: int
    backtest_fills: int
    difference: dict | None = None
    live: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    expected: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @property
    def ok(self) -> bool:
        return self.difference is None

    def __str__(self) -> str:
        head = f"bot {self.name!r}: {self.fills} fills on {self.bars} bars"
        if self.ok:
            return f"{head}, identical to the backtest of {self.strategy}"
        d = self.difference
        return (f"{head}; the backtest of {self.strategy} differs first at {d['time']}: "
                f"{d['what']} (live {_fill_text(d['live'])}, backtest {_fill_text(d['backtest'])})")

    def to_dict(self) -> dict:
        diff = None
        if self.difference is not None:
            def plain(value):
                if isinstance(value, dict):
                    return {k: plain(v) for k, v in value.items()}
                return str(value) if isinstance(value, pd.Timestamp) else value
            diff = plain(self.difference)
        return {"ok": self.ok, "name": self.name, "strategy": self.strategy, "bars": self.bars,
                "fills": self.fills, "backtest_fills": self.backtest_fills, "difference": diff,
                "message": str(self)}


def _fill_text(fill) -> str:
    if fill is None:
        return "none"
    return f"{fill['side']} {fill['units']:.8g} at {fill['price']:.10g}"


def _strategy_of(config: dict, name: str, given=None):
    """The bot's recorded strategy; ``given`` (a class or instance of the user's own) must
    match what the store recorded."""
    from .bot import config_mismatch
    from .strategy import load_strategy, strategy_from_config

    if given is None:
        try:
            return strategy_from_config(config)
        except ConfigError as exc:
            raise ConfigError(f"{exc}; or give it here: verify(store, {name!r}, "
                              "strategy=YourClass)") from None
    params = config.get("params") if isinstance(given, type) else None
    strategy = load_strategy(given, params)
    mismatch = config_mismatch(config, {"strategy": strategy.name, "params": strategy.params})
    if mismatch:
        raise ConfigError(f"bot {name!r} ran with {mismatch.replace('(now ', '(given ')}: give "
                          "verify the strategy the bot ran")
    return strategy


def verify(store, name: str = "jarvis", strategy=None) -> VerifyReport:
    """Compare a bot's stored fills with a backtest of its recorded strategy on its bars.

    ``store``: a Store, a database URL, a path or None (``$JARVIS_DB``). ``strategy``: for
    a strategy class of your own that the store cannot load by name (a class defined in a
    notebook): the class (given the stored parameters) or an instance; it must be the
    strategy and parameters the bot recorded. Raises ``ConfigError`` when the store has no
    such bot (naming the bots it has) or the strategy cannot be found or differs.
    """
    own = not isinstance(store, Store)
    store = Store(store) if own else store
    try:
        config = store.bot_config(name)
        if config is None:
            from .errors import did_you_mean

            bots = store.bots()
            raise ConfigError(f"no bot {name!r} in {store.safe_url}: it holds "
                              f"{', '.join(map(repr, bots)) or 'no bots'}." + did_you_mean(name, bots))
        strategy = _strategy_of(config, name, strategy)
        bars = store.recent_ticks(store.count_ticks(name), bot=name)
        live = store.trades_frame(name)
        label = _label(strategy)
        if bars.empty:
            return VerifyReport(name, label, 0, len(live), 0,
                                None if live.empty else _diff_at(live, pd.DataFrame(), 0), live)
        from .backtest import backtest

        candles = bars[["open", "high", "low", "close", "volume"]]
        result = backtest(candles, strategy, cash=config.get("cash", 10_000),
                          fee=config.get("fee", 0.0026))
        expected = result.fills
        report = VerifyReport(name, label, len(bars), len(live), len(expected), None, live, expected)
        for i in range(max(len(live), len(expected))):
            if i >= len(live) or i >= len(expected) or _differs(live.iloc[i], expected.iloc[i],
                                                               live.index[i], expected.index[i]):
                report.difference = _diff_at(live, expected, i)
                break
        return report
    finally:
        if own:
            store.close()


def _label(strategy) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in strategy.params.items())
    return f"{strategy.name} ({params})" if params else strategy.name


def _differs(a, b, ta, tb) -> bool:
    return (ta != tb or a["side"] != b["side"]
            or not math.isclose(float(a["price"]), float(b["price"]), rel_tol=REL_TOL)
            or not math.isclose(float(a["units"]), float(b["units"]), rel_tol=REL_TOL))


def _fill(frame: pd.DataFrame, i: int):
    if i >= len(frame):
        return None
    row = frame.iloc[i]
    return {"time": frame.index[i], "side": str(row["side"]), "price": float(row["price"]),
            "units": float(row["units"])}


def _diff_at(live: pd.DataFrame, expected: pd.DataFrame, i: int) -> dict:
    a, b = _fill(live, i), _fill(expected, i)
    if a is None:
        what, time = f"the backtest fills a {b['side']} the bot never made", b["time"]
    elif b is None:
        what, time = f"the bot made a {a['side']} the backtest does not", a["time"]
    elif a["time"] != b["time"]:
        time = min(a["time"], b["time"])
        what = f"fill {i + 1} is at {a['time']} live but at {b['time']} in the backtest"
    else:
        time = a["time"]
        parts = [k for k in ("side", "price", "units")
                 if (a[k] != b[k] if k == "side" else not math.isclose(a[k], b[k], rel_tol=REL_TOL))]
        what = f"fill {i + 1} differs in {', '.join(parts)}"
    return {"time": time, "what": what, "index": i, "live": a, "backtest": b}


# -- the command line: `jarvis verify` ------------------------------------------------------

def add_parser(sub) -> None:
    """Add ``jarvis verify`` to the ``jarvis`` command's subparsers."""
    p = sub.add_parser("verify", help="check a bot's stored fills against a backtest on its bars",
                       description="Backtest the bot's recorded strategy on the bars it stored and "
                       "compare fill by fill. Prints one JSON line; exit status 0 when identical, "
                       "1 when they differ.")
    p.add_argument("--db", default=None, help="database URL or SQLite path ($JARVIS_DB)")
    p.add_argument("--name", default="jarvis", help="the bot's name (jarvis)")
    p.set_defaults(func=main)


def main(args) -> int:
    """Run ``jarvis verify``: one JSON line; 0 identical, 1 different."""
    import json
    import sys

    report = verify(args.db, args.name)
    print(json.dumps(report.to_dict()), flush=True)
    if not report.ok:
        print(f"jarvis: {report}", file=sys.stderr)
    return 0 if report.ok else 1
