"""Strategies written once: the same ``rules`` decide in the backtest, the sweep, the
replay, the live bot, the dashboard and the CLI.

A strategy is a class with annotated parameters and one method, ``rules(candles)``:

>>> import pandas as pd
>>> class Dip(Strategy):
...     '''Buy after a close below the previous one by more than ``drop``; sell after a rise.'''
...     drop: float = 0.01
...     warmup = 2                            # the last row needs the last 2 bars only
...     def rules(self, candles):
...         change = candles["close"].pct_change()
...         return pd.DataFrame({"change": change, "enter": change < -self.drop,
...                              "exit": change > 0}, index=candles.index)
>>> Dip(drop=0.02).params
{'drop': 0.02}
>>> Dip(dorp=0.02)
Traceback (most recent call last):
...
jarvis_helpers.errors.ConfigError: Dip has no parameter 'dorp': its parameters are drop. Did you mean: drop?
>>> Dip(drop="a lot")
Traceback (most recent call last):
...
jarvis_helpers.errors.ConfigError: parameter drop of Dip: 'a lot' is not a number (for example drop=0.01)

The one position rule (long only): flat and ``enter`` -> buy at that bar's close; long and
``exit`` -> sell; ``enter`` and ``exit`` on the same bar -> nothing.

>>> positions([True, True, False, True, False], [False, False, True, True, False]).tolist()
[1.0, 1.0, 0.0, 0.0, 0.0]
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import sys
import typing
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, JarvisError, did_you_mean

__all__ = ["Strategy", "StrategyError", "positions", "run_rules", "strategies", "load_strategy",
           "strategy_for", "parse_params", "synthetic_candles", "strategy_from_config"]

RESERVED = frozenset({"name", "params", "warmup", "overlay", "rules", "indicator_columns",
                      "incremental", "validate", "coerce", "describe"})
"""Names a strategy cannot use for a parameter (they are the interface)."""

CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")
_BOOL, _FLOAT = np.dtype(bool), np.dtype(float)


class StrategyError(JarvisError):
    """A strategy's ``rules`` raised, or returned something other than the contract says.

    The message names the strategy's class and the bar it was deciding on.
    """


def _type_name(kind) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(
        kind, getattr(kind, "__name__", str(kind)))


def _resolve_annotations(cls) -> dict:
    """Every annotated class attribute of ``cls`` and its strategy bases, in order."""
    found: dict = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass is Strategy or not issubclass(klass, Strategy):
            continue
        raw = inspect.get_annotations(klass)
        try:
            hints = typing.get_type_hints(klass, include_extras=False)
        except Exception:  # a forward reference we cannot evaluate: use the text
            hints = {}
        for name, ann in raw.items():
            if name.startswith("_"):
                continue
            kind = hints.get(name, ann)
            if isinstance(kind, str):
                kind = {"int": int, "float": float, "bool": bool, "str": str}.get(kind.strip(), object)
            if typing.get_origin(kind) is typing.ClassVar or kind is typing.ClassVar:
                continue
            found[name] = kind
    return found


class Strategy:
    """Base class of every strategy: parameters as annotated class attributes.

    Subclasses define ``rules(candles) -> DataFrame`` (same index, boolean ``enter`` and
    ``exit``, float indicator columns), ``warmup`` (bars after which a row no longer
    depends on older ones; the live bot hands ``rules`` that many bars) and, optionally,
    ``overlay`` (indicator columns drawn over the price) and ``validate()`` (raise a
    ``ConfigError`` for a bad combination of parameters).
    """

    overlay: typing.ClassVar[tuple] = ()
    warmup: typing.ClassVar[int] = 100

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        params = _resolve_annotations(cls)
        clash = sorted(set(params) & RESERVED)
        if clash:
            raise TypeError(
                f"{cls.__name__}: {', '.join(clash)} cannot be a parameter (it is part of the "
                "Strategy interface): write it without a type annotation, e.g. `warmup = 30`"
            )
        cls._param_types = params
        cls._defaults = {n: getattr(cls, n) for n in params if hasattr(cls, n)}

    def __init__(self, **params):
        cls = type(self)
        accepted = list(cls._param_types)
        for key in params:
            if key not in cls._param_types:
                what = ", ".join(accepted) if accepted else "none"
                raise ConfigError(
                    f"{cls.__name__} has no parameter {key!r}: its parameters are {what}."
                    + did_you_mean(key, accepted)
                )
        values = {}
        for key, kind in cls._param_types.items():
            if key in params:
                values[key] = self.coerce(key, params[key])
            elif key in cls._defaults:
                values[key] = cls._defaults[key]
            else:
                raise ConfigError(f"{cls.__name__} needs parameter {key!r} ({_type_name(kind)})")
        for key, value in values.items():
            setattr(self, key, value)
        self.validate()
        self._columns: list[str] | None = None

    # -- parameters ----------------------------------------------------------------------
    def coerce(self, key: str, value):
        """Convert ``value`` (a number, or the text of one from the command line) to the
        parameter's annotated type, or raise a ConfigError naming it."""
        kind = type(self)._param_types[key]
        example = f" (for example {key}={self._defaults.get(key, '...')!s})"
        label = f"parameter {key} of {self.name}: {value!r}"
        if kind is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "on"):
                return True
            if text in ("false", "no", "0", "off"):
                return False
            raise ConfigError(f"{label} is not true or false{example}")
        if kind is int:
            if isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{label} is not a whole number{example}")
            if isinstance(value, (int, np.integer)):
                return int(value)
            try:
                number = float(str(value).strip()) if isinstance(value, str) else float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{label} is not a whole number{example}") from None
            if not (math.isfinite(number) and number.is_integer()):
                raise ConfigError(f"{label} is not a whole number{example}")
            return int(number)
        if kind is float:
            if isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{label} is not a number{example}")
            try:
                number = float(str(value).strip()) if isinstance(value, str) else float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{label} is not a number{example}") from None
            if not math.isfinite(number):
                raise ConfigError(f"{label} is not a finite number{example}")
            return number
        if kind is str:
            return str(value)
        return value

    def validate(self) -> None:
        """Raise a ConfigError for a bad combination of parameters (override it)."""

    @property
    def params(self) -> dict:
        """The parameters, in the order the class declares them."""
        return {k: getattr(self, k) for k in type(self)._param_types}

    @property
    def name(self) -> str:
        """The registry name of a shipped strategy, else the class name."""
        return type(self).__name__

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.params == self.params

    def __hash__(self) -> int:
        return hash((type(self).__qualname__, tuple(self.params.items())))

    def describe(self) -> str:
        """One line: name, parameters and warm-up."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({inner}), warm-up {self.warmup} bars"

    # -- the rules -------------------------------------------------------------------------
    def rules(self, candles: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - interface
        """DataFrame with the same index: boolean ``enter``/``exit`` + indicator columns."""
        raise NotImplementedError(f"{type(self).__name__} must define rules(self, candles)")

    def incremental(self):
        """An optional fast path for the live loop: an object with ``reset()`` and
        ``update(tick) -> (indicators: dict, enter: bool, exit: bool)`` that gives exactly
        what the last row of ``rules`` gives. None (the default): the bot calls ``rules``."""
        return None

    def indicator_columns(self) -> list[str]:
        """The float columns ``rules`` returns besides enter/exit, in order (found once,
        by running ``rules`` on a small synthetic frame)."""
        if self._columns is None:
            frame = run_rules(self, synthetic_candles(max(int(self.warmup), 2) + 10))
            self._columns = [c for c in frame.columns if c not in ("enter", "exit")]
        return list(self._columns)


def synthetic_candles(n: int, seed: int = 7, start="2020-01-01", freq="h") -> pd.DataFrame:
    """A seeded random walk of ``n`` hourly candles (open high low close volume).

    >>> synthetic_candles(3).columns.tolist()
    ['open', 'high', 'low', 'close', 'volume']
    """
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0, 0.003, n)) * close
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close,
                         "volume": rng.uniform(1, 10, n)}, index=index)


def _where(candles: pd.DataFrame) -> str:
    if len(candles) == 0:
        return "on an empty frame"
    last = candles.index[-1]
    return f"deciding on the bar of {last} ({len(candles)} bars given)"


def run_rules(strategy: Strategy, candles: pd.DataFrame) -> pd.DataFrame:
    """``strategy.rules(candles)``, checked: the same index, boolean ``enter`` and ``exit``
    with no missing values, numeric indicator columns (as floats). Anything else, or an
    exception inside ``rules``, is a StrategyError naming the class and the bar.

    >>> class Broken(Strategy):
    ...     def rules(self, candles):
    ...         return pd.DataFrame({"enter": candles["close"] > 0}, index=candles.index)
    >>> run_rules(Broken(), synthetic_candles(3))
    Traceback (most recent call last):
    ...
    jarvis_helpers.strategy.StrategyError: Broken.rules returned no 'exit' column (it returned: enter) deciding on the bar of 2020-01-01 02:00:00+00:00 (3 bars given): return boolean 'enter' and 'exit' columns
    """
    cls = type(strategy).__name__
    try:
        out = strategy.rules(candles)
    except StrategyError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise StrategyError(
            f"{cls}.rules raised {type(exc).__name__}: {text[0] if text else ''} {_where(candles)}"
        ) from exc
    if not isinstance(out, pd.DataFrame):
        raise StrategyError(
            f"{cls}.rules returned a {type(out).__name__}, not a DataFrame, {_where(candles)}: "
            "return pd.DataFrame({'enter': ..., 'exit': ...}, index=candles.index)"
        )
    if len(out) != len(candles):
        raise StrategyError(
            f"{cls}.rules returned {len(out)} rows for {len(candles)} bars {_where(candles)}: "
            "return one row per bar, on candles.index"
        )
    if not out.index.equals(candles.index):
        bad = int(np.flatnonzero(np.asarray(out.index != candles.index))[0]) if len(out) else 0
        raise StrategyError(
            f"{cls}.rules returned a different index (row {bad} is {out.index[bad]!s}, the bar is "
            f"{candles.index[bad]!s}) {_where(candles)}: build the result with index=candles.index"
        )
    kinds = dict(zip(out.columns, out.dtypes.tolist()))
    if (len(kinds) == out.shape[1] and kinds.get("enter") == _BOOL and kinds.get("exit") == _BOOL
            and all(v == _FLOAT for k, v in kinds.items() if k != "enter" and k != "exit")):
        return out  # already in shape: no copy (the live loop calls this on every bar)
    result = {}
    for col in ("enter", "exit"):
        if col not in out.columns:
            got = ", ".join(map(str, out.columns)) or "no columns"
            raise StrategyError(
                f"{cls}.rules returned no {col!r} column (it returned: {got}) {_where(candles)}: "
                "return boolean 'enter' and 'exit' columns"
            )
        series = out[col]
        if isinstance(series, pd.DataFrame):
            raise StrategyError(f"{cls}.rules returned two {col!r} columns {_where(candles)}")
        if series.dtype == np.dtype(bool):
            result[col] = series.to_numpy()
            continue
        missing = series.isna().to_numpy()
        if missing.any():
            at = int(np.flatnonzero(missing)[0])
            raise StrategyError(
                f"{cls}.rules returned a missing value (NaN) in {col!r} at bar {at} "
                f"({candles.index[at]}) {_where(candles)}: {col} must be True or False on every "
                "bar (a comparison with NaN, e.g. rsi < 30, already gives False)"
            )
        values = series.to_numpy()
        if series.dtype == np.dtype(object) and all(isinstance(v, (bool, np.bool_)) for v in values):
            result[col] = values.astype(bool)
            continue
        if str(series.dtype) == "boolean":
            result[col] = values.astype(bool)
            continue
        raise StrategyError(
            f"{cls}.rules returned {col!r} of type {series.dtype}, not boolean, "
            f"{_where(candles)}: use a comparison, e.g. {col}=rsi < 30"
        )
    for col in out.columns:
        if col in ("enter", "exit"):
            continue
        series = out[col]
        try:
            result[str(col)] = series.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise StrategyError(
                f"{cls}.rules returned column {col!r} of type {series.dtype}: indicator columns "
                f"must be numbers {_where(candles)}"
            ) from None
    order = [str(c) for c in out.columns if c not in ("enter", "exit")] + ["enter", "exit"]
    return pd.DataFrame({c: result[c] for c in order}, index=candles.index)


def positions(enter, exit_) -> np.ndarray:
    """The one position rule, vectorised: 1.0 while long, 0.0 while flat, after each bar.

    Flat and ``enter`` (without ``exit``) -> long; long and ``exit`` (without ``enter``)
    -> flat; otherwise the position stays. So the position is the last bar's clear call,
    carried forward.
    """
    enter = np.asarray(enter, dtype=bool)
    exit_ = np.asarray(exit_, dtype=bool)
    event = np.where(enter & ~exit_, 1.0, np.where(exit_ & ~enter, 0.0, np.nan))
    idx = np.where(np.isnan(event), -1, np.arange(len(event)))
    last = np.maximum.accumulate(idx) if len(idx) else idx
    return np.where(last >= 0, event[np.maximum(last, 0)], 0.0)


# -- the registry -----------------------------------------------------------------------------
def strategies() -> dict[str, type]:
    """The shipped strategies by name.

    >>> sorted(strategies())
    ['bollinger', 'ema', 'rsi', 'sma']
    """
    from .strategies_lib import SHIPPED

    return dict(SHIPPED)


def parse_params(items) -> dict:
    """``["period=7", "lower=25,upper=75"]`` (or one such string) -> a dict of texts.

    >>> parse_params(["period=7", "lower=25,upper=75"])
    {'period': '7', 'lower': '25', 'upper': '75'}
    >>> parse_params("period")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: parameter 'period' is not KEY=VALUE (for example --param period=14)
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    if isinstance(items, str):
        items = [items]
    out = {}
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"parameter {part!r} is not KEY=VALUE (for example --param period=14)")
            out[key.strip()] = value.strip()
    return out


def _load_file(spec: str) -> type:
    path_text, _, cls_name = spec.rpartition(":")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"strategy file {path_text!r} does not exist: give path/to/file.py:ClassName")
    key = "jarvis_user_" + path.stem + "_" + hashlib.sha1(
        str(path.resolve()).encode()).hexdigest()[:8]
    module = sys.modules.get(key)
    if module is None:
        mspec = importlib.util.spec_from_file_location(key, path)
        module = importlib.util.module_from_spec(mspec)
        sys.modules[key] = module
        try:
            mspec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[key]
            raise ConfigError(
                f"strategy file {path_text!r} failed to load: {type(exc).__name__}: {exc}") from exc
    found = [n for n, v in vars(module).items()
             if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy
             and v.__module__ == module.__name__]
    if not cls_name:
        raise ConfigError(f"{spec!r}: name the class after the colon, e.g. {path_text}:"
                          f"{found[0] if found else 'MyStrategy'}")
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        what = ", ".join(found) if found else "none"
        raise ConfigError(
            f"{path_text} has no Strategy class {cls_name!r} (its Strategy classes: {what})."
            + did_you_mean(cls_name, found)
        )
    return cls


def load_strategy(spec=None, params=None) -> Strategy:
    """A Strategy from a name (``"rsi"``), ``"path/file.py:Class"``, a class, an instance or
    None (``sma``), with ``params`` (a dict; texts are converted) applied.

    >>> load_strategy("rsi", {"period": "7"})
    Rsi(period=7, lower=30.0, upper=70.0)
    >>> load_strategy("rsl")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: unknown strategy 'rsl': choose one of sma, ema, rsi, bollinger, or give path/to/file.py:ClassName. Did you mean: rsi?
    """
    params = parse_params(params)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        spec = "sma"
    if isinstance(spec, Strategy):
        if not params:
            return spec
        strategy = type(spec)(**{**spec.params, **params})
        source = getattr(spec, "source", None)
        if source:
            strategy.source = source
        return strategy
    if isinstance(spec, type) and issubclass(spec, Strategy):
        return spec(**params)
    if not isinstance(spec, (str, Path)):
        raise ConfigError(
            f"strategy {spec!r} is not a Strategy: give a name ({', '.join(strategies())}), "
            "path/to/file.py:ClassName, a Strategy class or an instance")
    text = str(spec).strip()
    shipped = strategies()
    if text.lower() in shipped:
        return shipped[text.lower()](**params)
    if ":" in text or text.endswith(".py"):
        cls = _load_file(text)
        strategy = cls(**params)
        strategy.source = text
        return strategy
    raise ConfigError(
        f"unknown strategy {text!r}: choose one of {', '.join(shipped)}, or give "
        "path/to/file.py:ClassName." + did_you_mean(text, shipped)
    )


def strategy_for(strategy=None, params=None, *, short=None, long=None) -> Strategy:
    """The Strategy a Bot or a backtest runs: ``strategy`` as ``load_strategy`` takes it,
    with ``params``; ``short``/``long`` are the sma's parameters (as they always were).

    >>> strategy_for(None, short=5)
    Sma(short=5, long=20)
    >>> strategy_for("rsi", short=5)
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: Rsi has no parameter 'short': its parameters are period, lower, upper.
    """
    from .signals import SmaCrossover

    if isinstance(strategy, SmaCrossover):  # the incremental object a Bot used to take
        strategy, short, long = None, strategy.short, strategy.long
    extra = parse_params(params)
    if short is not None:
        extra["short"] = short
    if long is not None:
        extra["long"] = long
    return load_strategy(strategy, extra)


def normalised_config(config: dict) -> dict:
    """A stored bot config in today's form: one written before strategies existed is the
    sma with its stored windows (10 and 20 when absent).

    >>> normalised_config({"symbol": "BTC/USD", "short": 5})["params"]
    {'short': 5, 'long': 20}
    """
    if "strategy" in config:
        return config
    return {**config, "strategy": "sma",
            "params": {"short": config.get("short", 10), "long": config.get("long", 20)}}


def strategy_from_config(config: dict) -> Strategy:
    """The Strategy a stored bot config (``store.bot_config(name)``) records: its
    ``strategy`` name (or the ``source`` file it came from) with its ``params``; a config
    written before strategies existed is the sma with its stored windows.

    >>> strategy_from_config({"symbol": "BTC/USD", "short": 5, "long": 20})
    Sma(short=5, long=20)
    >>> strategy_from_config({"strategy": "rsi", "params": {"period": 7}})
    Rsi(period=7, lower=30.0, upper=70.0)
    """
    config = normalised_config(config)
    spec = config.get("source") or config["strategy"]
    if not config.get("source") and str(spec).lower() not in strategies():
        raise ConfigError(
            f"the bot ran {config['strategy']!r}, a strategy class of your own: load it with "
            f"load_strategy('path/to/file.py:{config['strategy']}', params) (or --strategy)")
    return load_strategy(spec, config.get("params") or {})
