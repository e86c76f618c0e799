"""One set of settings for the bot, from the environment and from arguments: ``jarvis
run``, ``jarvis serve``, the served app and the notebooks all build their bot here, so
they take the same options with the same defaults.

Environment: ``JARVIS_FEED``, ``JARVIS_DB``, ``JARVIS_NAME``, ``JARVIS_INTERVAL``,
``JARVIS_STRATEGY``, ``JARVIS_PARAMS`` (``k=v,k=v``), ``JARVIS_CASH``, ``JARVIS_FEE``.
Arguments override the environment; what neither gives is the bot's stored setting when
the database already holds that bot (so ``jarvis serve`` shows the bot ``jarvis run
--short 5`` made, and can Start it), else the default (replay, SMA 10/20, 10,000 cash,
the 0.26 % fee).

>>> s = Settings.from_env({"JARVIS_STRATEGY": "rsi", "JARVIS_PARAMS": "period=7"}, fee=0.001)
>>> s.strategy, s.params, s.fee, s.cash
('rsi', {'period': '7'}, 0.001, None)
>>> bot = s.make_bot(store=__import__("jarvis_helpers").Store("sqlite://"))
>>> bot.strategy, bot.account.fee
(Rsi(period=7, lower=30.0, upper=70.0), 0.001)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

from .errors import ConfigError

__all__ = ["Settings"]

ENV = {"feed": "JARVIS_FEED", "db": "JARVIS_DB", "name": "JARVIS_NAME",
       "interval": "JARVIS_INTERVAL", "strategy": "JARVIS_STRATEGY", "params": "JARVIS_PARAMS",
       "cash": "JARVIS_CASH", "fee": "JARVIS_FEE"}


@dataclass
class Settings:
    """What a bot runs with. ``None`` means "not given": the stored bot's setting, else
    the default. ``params`` are the strategy's parameters (texts are converted)."""

    feed: str | None = None
    db: str | None = None
    name: str | None = None
    interval: float | None = None
    strategy: object = None
    params: dict = field(default_factory=dict)
    cash: float | None = None
    fee: float | None = None

    @classmethod
    def from_env(cls, env=None, **overrides) -> Settings:
        """Settings from ``env`` (default ``os.environ``), then ``overrides`` that are not
        None (``params`` given here are added to those of ``JARVIS_PARAMS``)."""
        from .strategy import parse_params

        env = os.environ if env is None else env
        values = {key: (env.get(var) or None) for key, var in ENV.items()}
        values["params"] = parse_params(values["params"])
        unknown = sorted(set(overrides) - set(ENV))
        if unknown:
            from .errors import did_you_mean

            raise ConfigError(f"Settings has no {unknown[0]!r}: use {', '.join(ENV)}."
                              + did_you_mean(unknown[0], ENV))
        for key, value in overrides.items():
            if value is None:
                continue
            if key == "params":
                values["params"] = {**values["params"], **parse_params(value)}
            else:
                values[key] = value
        return cls(**values)

    def with_(self, **changes) -> Settings:
        """A copy with some fields changed."""
        return replace(self, **changes)

    # -- checks before anything is opened ---------------------------------------------------
    def check(self) -> None:
        """Validate what can be checked without a database (bad input changes nothing)."""
        from .account import check_cash, check_fee
        from .store import check_bot_name

        check_bot_name(self.name or "jarvis")
        if self.cash is not None:
            check_cash(self.cash)
        if self.fee is not None:
            check_fee(self.fee)
        if self.interval is not None:
            _seconds(self.interval)
        if self.strategy is not None or self.params:
            self._strategy(None)

    def _strategy(self, stored: dict | None):
        """The Strategy to run: the one given, else the stored bot's, else the sma."""
        from .strategy import load_strategy, strategy_from_config

        params = dict(self.params)
        if self.strategy is not None or stored is None:
            return load_strategy(self.strategy, params)
        return load_strategy(strategy_from_config(stored), params)

    # -- the bot --------------------------------------------------------------------------------
    def make_bot(self, store=None, *, default_interval=None):
        """The Bot these settings describe (``store``: an open Store, else ``db``'s).

        ``default_interval``: seconds between fetches when none is given (a number, or a
        function of the feed); by default 0 for a replay, 1 s for a live exchange.
        """
        from .bot import Bot
        from .feeds import open_feed
        from .store import Store

        self.check()
        spec = self.feed
        options = {"db": self.db} if isinstance(spec, str) and spec.startswith("candles:") and self.db else {}
        feed = open_feed(spec, **options) if spec is None or isinstance(spec, str) else spec
        store = store if store is not None else Store(self.db)
        name = self.name or "jarvis"
        stored = store.bot_config(name)
        strategy = self._strategy(stored)
        cash = self.cash if self.cash is not None else (stored or {}).get("cash", 10_000)
        fee = self.fee
        if fee is None:
            from .account import DEFAULT_FEE

            fee = (stored or {}).get("fee", DEFAULT_FEE)
        interval = self.interval
        if interval is None:
            if callable(default_interval):
                interval = default_interval(feed)
            elif default_interval is not None:
                interval = default_interval
            else:
                interval = 0.0 if feed.durable else 1.0
        return Bot(feed, store, name=name, cash=cash, fee=fee, interval=_seconds(interval),
                   strategy=strategy)


def _seconds(value) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"interval {value!r} is not a number: give seconds >= 0") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ConfigError(f"interval {value!r}: give seconds >= 0 (0 = as fast as the feed)")
    return seconds
