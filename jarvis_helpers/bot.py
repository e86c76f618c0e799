"""The Bot: fetch a tick, persist it, decide, trade the paper account, tell the listeners.

>>> import asyncio
>>> from jarvis_helpers import Bot, Store
>>> bot = Bot("replay", Store("sqlite://"), interval=0)
>>> asyncio.run(bot.run(max_ticks=500))
500
>>> s = bot.summary(); s["ticks"], s["trades"]
(500, 35)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .account import DEFAULT_FEE, PaperAccount, Trade
from .errors import ConfigError, FeedExhausted, JarvisError
from .feeds import Feed, open_feed
from .store import Store, check_bot_name
from .strategy import CANDLE_COLUMNS, Strategy, StrategyError, normalised_config, run_rules, strategy_for
from .ticks import BadTick, Tick

log = logging.getLogger("jarvis")

STATUSES = ("idle", "running", "stopped", "error")
_UTC = pd.DatetimeTZDtype(tz="UTC")


@dataclass(frozen=True, slots=True)
class StepEvent:
    """What one tick did: sent to every listener (dashboard, widgets, console).

    ``signal``: the position after the bar (1 long, 0 flat); ``entry_exit``: +1 buy, -1
    sell, 0 nothing; ``indicators``: the strategy's indicator columns on this bar;
    ``sma_short``/``sma_long``: the SMA strategy's two averages (NaN for another strategy).
    """

    tick: Tick
    sma_short: float
    sma_long: float
    signal: int
    entry_exit: int
    trade: Trade | None
    cash: float
    position: float
    equity: float
    ticks: int  # ticks stored for this bot so far, this one included
    indicators: dict = field(default_factory=dict)


def _retryable(exc: BaseException) -> str | None:
    """The fault kind if the loop should wait and try again, else None."""
    import ccxt

    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return "rate_limit"
    if isinstance(exc, ccxt.RequestTimeout) or isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ccxt.ExchangeNotAvailable):
        return "exchange_not_available"
    if isinstance(exc, ccxt.NetworkError):
        return "network"
    if isinstance(exc, ccxt.BadResponse):
        return "bad_response"
    if isinstance(exc, BadTick):
        return "bad_tick"
    return None


class Bot:
    """The trading loop: one feed, one store, one strategy, one paper account.

    ``feed``: a Feed or a spec string for ``open_feed``. ``store``: a Store (default: the
    SQLite file ``algo_trader_history.sqlite``). ``interval``: seconds between fetches
    (0 = as fast as the feed). The bot resumes whatever the store holds for ``name``.

    ``strategy``: a Strategy, a shipped name (``"rsi"``), ``"path/file.py:Class"``, a class,
    or None for ``sma``; ``params`` (a dict or ``["k=v", ...]``) sets its parameters;
    ``short``/``long`` are the sma's. The bot keeps the last ``strategy.warmup`` bars and
    acts on the last row of ``strategy.rules`` (or the strategy's incremental fast path,
    which gives the same rows).
    """

    def __init__(self, feed, store: Store | None = None, *, name: str = "jarvis",
                 cash=10_000, fee=DEFAULT_FEE, short: int | None = None, long: int | None = None,
                 interval: float = 1.0, strategy=None, params=None,
                 backoff: tuple[float, float] = (1.0, 60.0), commit_every: int = 1000):
        self.name = check_bot_name(name)
        self.strategy: Strategy = strategy_for(strategy, params, short=short, long=long)
        self.account = PaperAccount(cash, fee)
        self.feed: Feed = open_feed(feed) if isinstance(feed, str) or feed is None else feed
        self.store = store if store is not None else Store()
        is_sma = self.strategy.name == "sma" and hasattr(self.strategy, "short")
        self.short = self.strategy.short if is_sma else None
        self.long = self.strategy.long if is_sma else None
        self._sma_keys = (f"sma{self.short}", f"sma{self.long}") if is_sma else ("", "")
        self.warmup = max(1, int(self.strategy.warmup))
        self._fast = self.strategy.incremental()
        self._bar_times: deque = deque(maxlen=self.warmup)
        self._bar_values: deque = deque(maxlen=self.warmup)
        self._indicator_names: list[str] | None = None
        try:
            self.interval = float(interval)
        except (TypeError, ValueError):
            raise ConfigError(f"interval {interval!r} is not a number: give seconds >= 0") from None
        if not (math.isfinite(self.interval) and self.interval >= 0):
            raise ConfigError(f"interval {interval!r}: give seconds >= 0 (0 = as fast as the feed)")
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.commit_every = max(1, int(commit_every)) if self.feed.durable else 1
        self.status = "idle"
        self.last_error: str | None = None
        self.faults: Counter = Counter()
        self.retries = 0
        self.ticks = 0  # stored ticks for this bot (all runs)
        self.ticks_this_run = 0
        self.last_tick: Tick | None = None
        self._last: tuple | None = None
        self._last_event: StepEvent | None = None
        self._listeners: list = []
        self._pending: list = []
        self._last_flush = time.monotonic()
        self._resumed = False
        self._task: asyncio.Task | None = None
        self._stop_requested = False

    # -- configuration and resume ---------------------------------------------------------
    @property
    def config(self) -> dict:
        """What the store records for this bot (and checks on resume)."""
        config = {"symbol": self.feed.symbol, "cash": self.account.initial_cash,
                  "fee": self.account.fee, "strategy": self.strategy.name,
                  "params": self.strategy.params}
        if self.short is not None:  # readable by older versions, which knew only the sma
            config.update(short=self.short, long=self.long)
        source = getattr(self.strategy, "source", None)
        if source:
            config["source"] = source
        return config

    def _resume(self) -> None:
        """Rebuild the account from the ledger and the strategy from the newest ticks."""
        if self._resumed:
            return
        # A rules() that cannot run at all fails here, before anything is stored.
        self._indicator_names = self.strategy.indicator_columns()
        current = self.config
        stored = self.store.bot_config(self.name)
        if stored is not None:
            what = config_mismatch(stored, current)
            if what:
                raise ConfigError(
                    f"bot {self.name!r} in {self.store.safe_url} was started with {what}: use the "
                    "same settings to resume it, another name, or reset it (jarvis run --reset)"
                )
        self.store.register_bot(self.name, current)
        self.account = PaperAccount.from_ledger(
            self.account.initial_cash, self.account.fee, self.store.trades(self.name))
        recent = self.store.recent_ticks(self.warmup, bot=self.name)
        self._bar_times.clear()
        self._bar_values.clear()
        if self._fast is not None:
            self._fast.reset()
        columns = [recent[c].to_numpy(dtype=float) if c in recent.columns else None
                   for c in CANDLE_COLUMNS]
        close = recent["close"].to_numpy(dtype=float)
        for i, ts in enumerate(recent.index):
            o, h, lo, c, v = (col[i] if col is not None else (np.nan if k == 4 else close[i])
                              for k, col in enumerate(columns))
            o, h, lo = (c if not np.isfinite(x) else x for x in (o, h, lo))
            if self._fast is not None:
                self._fast.update(Tick(self.feed.symbol, ts, c, o, h, lo, v))
            else:
                self._bar_times.append(ts.value)
                self._bar_values.append((o, h, lo, c, v))
        self.ticks = self.store.count_ticks(self.name)
        if len(recent):
            self.account.last_price = float(recent["close"].iloc[-1])
            self.last_tick = Tick(self.feed.symbol, recent.index[-1], float(recent["close"].iloc[-1]))
            self.feed.start_after(recent.index[-1])
        self._resumed = True

    # -- listeners -----------------------------------------------------------------------
    def subscribe(self, listener) -> None:
        """Call ``listener(event: StepEvent)`` after every tick (never let it block)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- one tick ------------------------------------------------------------------------
    async def _fetch(self) -> Tick:
        """Fetch one tick, retrying transient faults with capped exponential backoff."""
        delay = self.backoff[0]
        while True:
            try:
                return await self.feed.fetch()
            except FeedExhausted:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                kind = _retryable(exc)
                if kind is None:
                    raise
                self.faults[kind] += 1
                self.retries += 1
                self.last_error = f"{kind}: {_one_line(exc)}"
                log.warning("%s: %s; retrying in %.1fs", self.name, self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff[1])

    async def step(self) -> StepEvent | None:
        """Fetch and act on one tick. Returns its event, or None when the tick was skipped
        (a repeat or an older time than the last stored tick)."""
        self._resume()
        tick = await self._fetch()
        return self.last_event if self._process(tick) is not None else None

    @property
    def last_event(self) -> StepEvent | None:
        """What the last tick acted on did (None before the first)."""
        if self._last_event is None and self._last is not None:
            tick, indicators, signal, entry_exit, trade, cash, position, equity, ticks = self._last
            short_key, long_key = self._sma_keys
            self._last_event = StepEvent(
                tick, indicators.get(short_key, math.nan), indicators.get(long_key, math.nan),
                signal, entry_exit, trade, cash, position, equity, ticks, indicators)
        return self._last_event

    def _process(self, tick: Tick) -> tuple | None:
        """Act on one tick; None when it was skipped (a repeat or an older time)."""
        if tick.symbol != self.feed.symbol:
            self.faults["wrong_symbol"] += 1
            return None
        last = self.last_tick
        if last is not None and tick.timestamp.value <= last.timestamp.value:
            kind = "duplicate" if tick.timestamp == last.timestamp else "stale"
            self.faults[kind] += 1
            self.last_error = f"{kind}: tick at {tick.timestamp} is not after {last.timestamp}"
            return None
        indicators, enter, exit_ = self._decide(tick)
        was_long = self.account.position > 0
        entry_exit = (1 if not was_long and enter and not exit_
                      else -1 if was_long and exit_ and not enter else 0)
        trade = self.account.fill(entry_exit, tick.symbol, tick.timestamp, tick.close)
        signal = 1 if self.account.position > 0 else 0
        self._pending.append((tick, trade))
        if (len(self._pending) >= self.commit_every or trade is not None and not self.feed.durable
                or time.monotonic() - self._last_flush > 0.5):
            self.flush()
        self.last_tick = tick
        self.ticks += 1
        self.ticks_this_run += 1
        account = self.account
        # The event is built only when someone looks (a listener, or ``last_event``): a
        # headless replay does not pay for a dozen-field dataclass per tick.
        self._last = (tick, indicators, signal, entry_exit, trade, account.cash,
                      account.position, account.equity(tick.close), self.ticks)
        self._last_event = None
        if self._listeners:
            event = self.last_event
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception as exc:  # a broken listener must not stop trading
                    self.faults["listener"] += 1
                    self.last_error = f"listener {listener!r} failed: {_one_line(exc)}"
                    log.exception("listener failed")
        return self._last

    def _decide(self, tick: Tick) -> tuple[dict, bool, bool]:
        """The strategy's row for this bar: (indicators, enter, exit)."""
        if self._fast is not None:
            return self._fast.update(tick)
        self._bar_times.append(tick.timestamp.value)
        self._bar_values.append((tick.open, tick.high, tick.low, tick.close, tick.volume))
        times = np.fromiter(self._bar_times, dtype=np.int64, count=len(self._bar_times))
        index = pd.DatetimeIndex(times.view("datetime64[ns]"), dtype=_UTC)
        candles = pd.DataFrame(np.array(self._bar_values, dtype=float), index=index,
                               columns=CANDLE_COLUMNS)
        try:
            out = run_rules(self.strategy, candles)
        except StrategyError:
            self._bar_times.pop()  # the bar was not acted on: it is not kept either
            self._bar_values.pop()
            raise
        row = dict(zip(out.columns, out.iloc[-1].tolist()))
        names = self._indicator_names
        if names is None:
            names = [c for c in out.columns if c not in ("enter", "exit")]
        indicators = {c: float(row[c]) for c in names if c in row}
        return indicators, bool(row["enter"]), bool(row["exit"])

    def flush(self) -> None:
        """Commit the ticks and trades not yet stored (one transaction)."""
        if self._pending:
            rows, self._pending = self._pending, []
            self.store.write(self.name, rows)
        self._last_flush = time.monotonic()

    # -- loops ---------------------------------------------------------------------------
    async def run(self, max_ticks: int | None = None) -> int:
        """Run until the feed is exhausted, ``max_ticks`` ticks are done, or ``stop()``.

        Returns the number of ticks acted on in this run.
        """
        if max_ticks is not None and (isinstance(max_ticks, bool) or int(max_ticks) != max_ticks
                                      or max_ticks < 0):
            raise ConfigError(f"max_ticks {max_ticks!r}: give a whole number, at least 0, or None")
        self._stop_requested = False
        self.status = "running"
        self.ticks_this_run = 0
        done = 0
        yielded = time.monotonic()
        try:
            self._resume()
            while not self._stop_requested and (max_ticks is None or done < max_ticks):
                started = time.monotonic()
                try:
                    tick = await self._fetch()
                except FeedExhausted:
                    break
                if self._process(tick) is not None:
                    done += 1
                if self.interval > 0:
                    await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))
                elif time.monotonic() - yielded > 0.02:
                    await asyncio.sleep(0)  # let the UI and the Stop button breathe
                    yielded = time.monotonic()
            self.flush()
            self.status = "stopped"
        except asyncio.CancelledError:
            self._safe_flush()
            self.status = "stopped"
            raise
        except Exception as exc:
            self._safe_flush()
            self.status = "error"
            self.last_error = _one_line(exc) + _advice(exc)
            raise
        return done

    def _safe_flush(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # pragma: no cover - the database itself failed
            self.last_error = f"could not store the last ticks: {_one_line(exc)}"
            log.exception("flush failed")

    def start(self, max_ticks: int | None = None) -> asyncio.Task:
        """Run the loop as a task on the *running* event loop (Jupyter's own, or panel's).

        A second ``start()`` while running returns the running task. Errors end up in
        ``status`` and ``last_error``, not lost in the task.
        """
        if self._task is not None and not self._task.done():
            return self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "Bot.start() needs a running event loop (as in Jupyter or panel serve); in a "
                "script use asyncio.run(bot.run())"
            ) from None
        self.status = "running"
        self._task = loop.create_task(self.run(max_ticks), name=f"jarvis-bot-{self.name}")
        self._task.add_done_callback(self._task_done)
        return self._task

    def _task_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            self.status = "stopped"
            return
        exc = task.exception()
        if exc is not None:
            if self.status != "error":  # raised before run()'s loop began, e.g. a bad max_ticks
                self.status = "error"
                self.last_error = _one_line(exc) + _advice(exc)
            log.error("bot %s stopped: %s", self.name, self.last_error)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop the loop, commit what is pending and close the feed."""
        self._stop_requested = True
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._safe_flush()
        await self.feed.close()
        if self.status != "error":
            self.status = "stopped"

    # -- reporting -----------------------------------------------------------------------
    def summary(self) -> dict:
        """The bot's state in total (all runs): ticks, trades, cash, position, equity."""
        self._resume()
        return {"ticks": self.ticks, **self.account.summary()}

    def status_line(self) -> str:
        parts = [f"{self.name} [{self.feed.spec}] {self.status}", f"ticks {self.ticks}",
                 f"trades {self.account.trades}"]
        if self.retries:
            parts.append(f"retries {self.retries}")
        if self.last_error:
            parts.append(f"last error: {self.last_error}")
        return " | ".join(parts)

    def __repr__(self) -> str:
        return f"<Bot {self.name!r} {self.feed.spec} {self.status}, {self.ticks} ticks>"


def config_mismatch(stored: dict, current: dict) -> str:
    """What differs between a stored bot config and the current one ('' when nothing).

    >>> config_mismatch({"symbol": "BTC/USD", "short": 5, "long": 20},
    ...                 {"symbol": "BTC/USD", "strategy": "sma", "params": {"short": 10, "long": 20}})
    'short=5 (now 10)'
    >>> config_mismatch({"strategy": "sma", "params": {"short": 10, "long": 20}},
    ...                 {"strategy": "rsi", "params": {"period": 14}})
    "strategy 'sma' (short=10, long=20) (now 'rsi' (period=14))"
    """
    old, new = normalised_config(stored), normalised_config(current)
    parts = [f"{k}={old.get(k)!r} (now {new.get(k)!r})" for k in ("symbol", "cash", "fee")
             if k in new and old.get(k) != new.get(k)]
    if old["strategy"] != new["strategy"]:
        def show(c):
            from .strategy import strategies

            params, cls = c["params"], strategies().get(c["strategy"])
            order = [k for k in getattr(cls, "_param_types", {}) if k in params]
            inner = ", ".join(f"{k}={params[k]!r}" for k in order + sorted(set(params) - set(order)))
            return f"{c['strategy']!r} ({inner})"
        parts.append(f"strategy {show(old)} (now {show(new)})")
    else:
        po, pn = old.get("params", {}), new.get("params", {})
        parts += [f"{k}={po.get(k)!r} (now {pn.get(k)!r})" for k in dict.fromkeys([*po, *pn])
                  if po.get(k) != pn.get(k)]
    return ", ".join(parts)


def _advice(exc: BaseException) -> str:
    """What to fix, for the exchange errors that stop the bot (they are never retried)."""
    import ccxt

    text = str(exc)
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountNotEnabled)):
        return (" -- the exchange refused the API key: check JARVIS_API_KEY and JARVIS_API_SECRET "
                "(environment or .env); public prices need no key")
    if "BASE/QUOTE" in text:  # ExchangeFeed's own BadSymbol already says what to fix
        return ""
    if isinstance(exc, ccxt.BadSymbol) or "pair" in text.lower() or "symbol" in text.lower():
        return (" -- check the symbol: ccxt's unified BASE/QUOTE form, one the exchange lists "
                "(for example 'BTC/USD')")
    if isinstance(exc, ccxt.ExchangeError):
        return " -- the exchange refused the request: check the symbol and any API keys"
    return ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    name = type(exc).__name__
    if isinstance(exc, JarvisError):
        return msg or name
    return f"{name}: {msg}"[:300] if msg else name
