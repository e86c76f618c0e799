"""The streaming dashboard: the bot's prices, its strategy's indicators, signals, trades and
account, live.

The pipeline, one way::

    bot listener ─▶ pending list ─▶ flush (<= max_fps per second) ─▶ streamz Stream
        ─▶ sink ─▶ HoloViews Buffers (bounded backlog) ─▶ DynamicMaps ─▶ Panel layout

The listener only appends the bot's ``StepEvent`` to a list, so the bot never waits for
the page. A flush turns the rows since the last one into ONE small DataFrame (never more
than ``backlog`` rows, however many ticks came) and emits it; the Buffers keep the newest
``backlog`` rows and the plots redraw once per flush. Shown in a notebook or served, the
dashboard flushes itself from a Panel periodic callback (``Buffer.send`` inside
``pn.io.unlocked()``, as the HoloViz streaming examples do), which stops while the bot is
stopped and nothing is pending: a stopped bot's page does no periodic work. Elsewhere call
``flush()``.

What is drawn comes from the bot's strategy: the price with its ``overlay`` columns and the
buy/sell markers, its other indicator columns in a panel below (with the strategy's
``lower``/``upper`` bands when it has them), the signals table with its columns, the equity.

>>> import asyncio
>>> from jarvis_helpers import Bot, Store, Dashboard
>>> bot = Bot("replay", Store("sqlite://"), interval=0)
>>> dash = Dashboard(bot, backlog=100)
>>> asyncio.run(bot.run(max_ticks=500))
500
>>> dash.flush()  # 500 new ticks, but only the newest 100 can be seen: 100 rows sent
100
>>> len(dash.buffers["ticks"].data), dash.updates, dash.flush()
(100, 1, 0)
>>> dash.indicators
['sma10', 'sma20']
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections import deque

import numpy as np
import pandas as pd

from . import _panel_compat as compat
from .account import PaperAccount
from .errors import ConfigError

BASE_COLUMNS = ["close", "signal", "entry_exit", "cash", "position", "equity"]
TABLE_BACKLOG = 10
DRAW_SHARE = 2.0  # idle time after each draw, as a multiple of the time it took
_DRAWING = {"next": 0.0}  # shared by every dashboard of this process (one event loop)
_LAYOUT: dict = {}
ACCOUNT_FIELDS = [("cash", "cash", "{:,.2f}"), ("position", "position", "{:,.6f}"),
                  ("equity", "equity", "{:,.2f}"), ("pnl", "P&amp;L", "{:+,.2f}"),
                  ("trades", "trades", "{:d}")]
COLORS = ["#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def extension(*, comms_on_main_thread: bool = True) -> None:
    """Load Panel, HoloViews and Bokeh in a notebook, offline and small: their JavaScript
    and stylesheets come from the Jupyter server (the server extension Panel ships), never
    from a CDN nor inlined in the saved notebook. Messages from the page are applied on the
    kernel's main thread whatever JupyterLab's "comms over subshells" setting is, and the
    updates made before the page has connected reach it in order.

    Call it once, first thing in the imports cell, instead of ``pn.extension()`` /
    ``hv.extension()`` (later calls of these, and hvplot's import, load from the Jupyter
    server too). Outside a notebook it only selects HoloViews' Bokeh backend.

    >>> extension()
    >>> import holoviews as hv; hv.Store.current_backend
    'bokeh'
    """
    import holoviews as hv
    import panel as pn

    try:
        from IPython import get_ipython

        kernel = getattr(get_ipython(), "kernel", None)
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        kernel = None
    if kernel is None:
        import holoviews.plotting.bokeh  # noqa: F401 - registers the backend, no output

        hv.Store.set_current_backend("bokeh")
        return
    if comms_on_main_thread:
        compat.comms_on_main_thread()
    pn.config.inline = False
    compat.serve_resources_locally()
    compat.use_local_loader()
    compat.use_ordered_push()
    compat.skip_slow_imports()
    pn.extension()
    hv.extension("bokeh", logo=False)


def _layout_class():
    """``pn.Column`` whose messages from a notebook page hold the dashboard's lock and drop
    the page's echo of streamed rows (built on first use: Panel is imported lazily)."""
    if "cls" not in _LAYOUT:
        import panel as pn

        class DashboardColumn(pn.Column):
            _jarvis_lock = None

            def _on_msg(self, ref, manager, msg):
                # Panel's notebook page sends every patch it applies back to the kernel. A
                # streamed update would be appended a second time, with the times as float
                # milliseconds that a datetime64 column cannot take (DTypePromotionError).
                compat.drop_page_echo(msg)
                with self._jarvis_lock or threading.RLock():
                    super()._on_msg(ref, manager, msg)

        _LAYOUT["cls"] = DashboardColumn
    return _LAYOUT["cls"]


def _check_positive(label: str, value, kind=int):
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(value) or value <= 0 or (kind is int and int(value) != value):
        what = "a whole number >= 1" if kind is int else "a number > 0"
        raise ConfigError(f"{label}={value!r}: give {what}")
    return kind(value)


def strategy_columns(bot) -> tuple[list[str], list[str]]:
    """The bot's indicator columns and those of them drawn over the price.

    >>> from jarvis_helpers import Bot, Store
    >>> strategy_columns(Bot("replay", Store("sqlite://")))
    (['sma10', 'sma20'], ['sma10', 'sma20'])
    """
    columns = list(bot.strategy.indicator_columns())
    return columns, [c for c in bot.strategy.overlay if c in columns]


def _event_indicators(event, columns) -> list[float]:
    return [float(event.indicators.get(c, np.nan)) for c in columns]


class Dashboard:
    """A live view of one ``Bot``: prices with the strategy's overlay and buy/sell markers,
    its other indicators below, a signals table, the account, the equity curve and a
    status line.

    ``backlog``: rows kept by the plots (the newest ones). ``max_fps``: at most this many
    page updates per second, each carrying only the rows since the last one. Attaching to
    a bot with history shows what its Store holds. ``panel()`` (or just displaying the
    object) gives the Panel layout.
    """

    def __init__(self, bot, backlog: int = 1000, max_fps: float = 10, title: str = "JARVIS"):
        from holoviews.streams import Buffer
        from streamz import Stream

        self.bot = bot
        self.backlog = _check_positive("backlog", backlog)
        self.max_fps = _check_positive("max_fps", max_fps, float)
        self.title = title
        self.indicators, self.overlay = strategy_columns(bot)
        taken = set(BASE_COLUMNS)
        # the frame's column of each indicator (renamed only if it clashes with ours)
        self._cols = {c: (c if c not in taken else f"indicator {c}") for c in self.indicators}
        self.updates = 0  # flushes that sent rows
        self.rows_sent = 0
        self.rows_dropped = 0  # rows that arrived but were older than the backlog at flush time
        self.rows_per_update: deque[int] = deque(maxlen=1000)
        self.last_flush = 0.0
        self._pending: list = []
        self._layout = None
        self._timer = None
        self._doc = None
        self._asleep = False
        self._closed = False
        # Held while rows go to the plots and while a message from the page is applied.
        self._lock = threading.RLock()
        self._status_text = ""
        self._account: dict = {}
        self._ledger_trades = 0
        self._table_count = -1
        self._account_shown: dict = {}

        example = self._example()
        self.stream = Stream(stream_name="jarvis-rows")
        self.buffers = {
            "ticks": Buffer(example, length=self.backlog),
            "table": Buffer(example, length=TABLE_BACKLOG),
        }
        self._sinks = [self.stream.sink(buf.send) for buf in self.buffers.values()]

        history = self.history()
        if len(history):
            self.stream.emit(history)
            last = history.iloc[-1]
            self._account = {"cash": float(last["cash"]), "position": float(last["position"]),
                             "equity": float(last["equity"])}
        bot.subscribe(self._on_event)

    @property
    def columns(self) -> list[str]:
        """The columns of every update: close, the indicators, signal, entry_exit, account."""
        return ["close", *self._cols.values(), *BASE_COLUMNS[1:]]

    def _example(self) -> pd.DataFrame:
        """An empty frame with the columns and dtypes every update carries."""
        index = pd.DatetimeIndex([], dtype="datetime64[ns]", name="timestamp")
        return pd.DataFrame({c: pd.Series([], dtype=float) for c in self.columns}, index=index)

    # -- data ----------------------------------------------------------------------------
    def _on_event(self, event) -> None:
        # Called by the bot after every tick: keep it this cheap.
        self._pending.append(event)
        if self._asleep:
            self._wake()

    @property
    def pending(self) -> int:
        """Events received and not yet sent to the plots."""
        return len(self._pending)

    def history(self) -> pd.DataFrame:
        """The newest ``backlog`` ticks the Store holds for this bot, as update rows (the
        indicators recomputed with ``bot.strategy.rules``, the account replayed from the
        ledger)."""
        bot = self.bot
        try:
            bot.flush()  # a running bot may hold ticks not committed yet
        except Exception:  # noqa: BLE001 - history is best effort; the bot reports its errors
            pass
        warmup = int(bot.strategy.warmup)
        ticks = bot.store.recent_ticks(self.backlog + warmup, bot=bot.name)
        if ticks.empty:
            return self._example()
        indicators = self._recompute(ticks)
        acct = PaperAccount(bot.account.initial_cash, bot.account.fee)
        times, cash, position, sides = [], [], [], {}
        for trade in bot.store.trades(bot.name):
            acct.apply(trade)
            times.append(trade.timestamp.value)
            cash.append(acct.cash)
            position.append(acct.position)
            sides[trade.timestamp.value] = 1.0 if trade.side == "buy" else -1.0
        self._ledger_trades = acct.trades
        tick_ns = ticks.index.as_unit("ns").asi8
        at = np.searchsorted(np.asarray(times, dtype="int64"), tick_ns, side="right") - 1
        cash_arr = np.where(at >= 0, np.asarray(cash + [acct.initial_cash])[at], acct.initial_cash)
        pos_arr = np.where(at >= 0, np.asarray(position + [0.0])[at], 0.0)
        close = ticks["close"].to_numpy(dtype=float)
        frame = pd.DataFrame({
            "close": close,
            **{self._cols[c]: indicators[c] for c in self.indicators},
            "signal": (pos_arr > 0).astype(float),  # position after the bar, from the ledger
            "entry_exit": np.array([sides.get(int(t), 0.0) for t in tick_ns]),
            "cash": cash_arr,
            "position": pos_arr,
            "equity": cash_arr + pos_arr * close,
        }, index=pd.DatetimeIndex(tick_ns.astype("datetime64[ns]"), name="timestamp"))
        return frame[self.columns].iloc[-self.backlog:]

    def _recompute(self, ticks: pd.DataFrame) -> dict:
        """Each indicator column over the stored ticks, as the strategy computes it."""
        from .strategy import run_rules  # the same checked call the bot and the backtest make

        out = run_rules(self.bot.strategy, ticks[["open", "high", "low", "close", "volume"]].astype(float))
        return {c: out[c].to_numpy(dtype=float) for c in self.indicators}

    def rows(self, events) -> pd.DataFrame:
        """One update's DataFrame from StepEvents (naive UTC index, as Bokeh wants)."""
        trades = [e.trade for e in events]
        values = np.array([_event_indicators(e, self.indicators) for e in events],
                          dtype=float).reshape(len(events), len(self.indicators))
        frame = pd.DataFrame({
            "close": [e.tick.close for e in events],
            **{self._cols[c]: values[:, i] for i, c in enumerate(self.indicators)},
            "signal": [float(e.signal) for e in events],
            "entry_exit": [0.0 if t is None else (1.0 if t.side == "buy" else -1.0) for t in trades],
            "cash": [e.cash for e in events],
            "position": [e.position for e in events],
            "equity": [e.equity for e in events],
        }, index=pd.DatetimeIndex(
            np.array([e.tick.timestamp.value for e in events], dtype="int64").astype("datetime64[ns]"),
            name="timestamp"))
        return frame

    def flush(self) -> int:
        """Send the rows that came since the last flush (at most ``backlog``) to the plots,
        refresh the account and the status line. Returns the number of rows sent."""
        with self._lock:
            return self._flush()

    def _flush(self) -> int:
        events, self._pending = self._pending, []
        if len(events) > self.backlog:
            self.rows_dropped += len(events) - self.backlog
            events = events[-self.backlog:]
        self.last_flush = time.monotonic()
        if events:
            self.stream.emit(self.rows(events))  # the sinks call buffer.send(frame)
            self.updates += 1
            self.rows_sent += len(events)
            self.rows_per_update.append(len(events))
            last = events[-1]
            self._account = {"cash": last.cash, "position": last.position, "equity": last.equity}
        self._refresh_widgets()
        return len(events)

    # -- text ----------------------------------------------------------------------------
    def status_text(self) -> str:
        """The status line: bot, feed, running/stopped/error, ticks, retries, last error."""
        return self.bot.status_line()

    def account(self) -> dict:
        """Cash, position, equity, P&L and trades as last sent to the page."""
        acct = self.bot.account
        values = dict(self._account) or {"cash": acct.cash, "position": acct.position,
                                         "equity": acct.equity() if acct.position else acct.cash}
        # before the bot resumes, its account knows nothing of the ledger the history showed
        trades = max(acct.trades, self._ledger_trades)
        values["pnl"] = values["equity"] - acct.initial_cash
        values["trades"] = trades
        return values

    # -- the page ------------------------------------------------------------------------
    def _refresh_widgets(self) -> None:
        if self._layout is None:
            return
        text = self.status_text()
        if text != self._status_text:
            self._status_text = text
            css = {"error": "#b00020", "running": "#0a7d32"}.get(self.bot.status, "#555")
            self._status.object = (
                f'<span class="jarvis-status" style="color:{css}">{html.escape(text)}</span>')
        seen = compat.buffer_rows_seen(self.buffers["table"])
        if seen != self._table_count:
            self._table_count = seen
            self._table.object = self._table_frame()
        acct = self.account()
        if acct != self._account_shown:
            self._account_shown = acct
            cells = "".join(
                f'<td style="padding:0 2em 0 0"><div style="color:#666;font-size:11pt">{label}</div>'
                f'<div class="jarvis-{key}" style="font-size:20pt">{fmt.format(acct[key])}</div></td>'
                for key, label, fmt in ACCOUNT_FIELDS)
            self._account_pane.object = f'<table class="jarvis-account"><tr>{cells}</tr></table>'

    def _table_frame(self) -> pd.DataFrame:
        """The signals table: the newest rows first, the strategy's columns by name."""
        data = self.buffers["table"].data.iloc[::-1]
        return pd.DataFrame({
            "close": data["close"], **{c: data[self._cols[c]] for c in self.indicators},
            "signal": data["signal"].astype(int),
            "entry/exit": data["entry_exit"].astype(int)}, index=data.index)

    def panel(self):
        """The Panel layout (built once); in a notebook or a served page it also starts the
        periodic callback that flushes at most ``max_fps`` times a second."""
        if self._layout is None:
            self._layout = self._build()
        self.start_updates()
        return self._layout

    def __panel__(self):
        return self.panel()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.panel()._repr_mimebundle_(include, exclude)

    def _on_timer(self) -> None:
        # At most max_fps updates a second per page, and all the pages of this process
        # together draw at most about a third of the time: after a draw that took t
        # seconds, no page draws again for 2t (a busy machine or many browser tabs must
        # not starve the bot, nor delay a click on Stop).
        import panel as pn

        started = time.monotonic()
        if started - self.last_flush < 1.0 / self.max_fps or started < _DRAWING["next"]:
            return
        if compat.page_waiting(self._layout):
            # Updates pushed before a notebook page has connected are re-tried separately
            # by Panel and can reach it out of order: keep at most backlog rows until then.
            extra = len(self._pending) - self.backlog
            if extra > 0:
                del self._pending[:extra]
                self.rows_dropped += extra
            return
        with pn.io.unlocked():
            sent = self.flush()
        if sent:
            ended = time.monotonic()
            _DRAWING["next"] = ended + DRAW_SHARE * (ended - started)
        elif not self.bot.running and not self._pending:
            self._sleep()  # stopped, everything shown: no periodic work until the next tick

    def _sleep(self) -> None:
        if self._timer is not None and self._timer.running:
            self._asleep = True
            self._timer.stop()

    def _wake(self) -> None:
        """Restart the periodic callback (a tick came, or Start was pressed)."""
        if self._closed or self._timer is None or self._timer.running:
            return
        self._asleep = False
        if self._doc is not None:  # served: start it inside the session's document
            self._doc.add_next_tick_callback(self._start_in_doc)
        else:
            self._timer.start()

    def wake(self) -> None:
        """Refresh the page now and keep updating it while the bot runs (call it after
        ``bot.start()`` from a button: the status shows "running" before the first tick)."""
        self._wake()

    def _start_in_doc(self) -> None:
        if not self._closed and self._timer is not None and not self._timer.running:
            compat.in_document(self._doc, self._timer.start)

    def start_updates(self) -> bool:
        """Flush from a periodic callback on the running event loop (the notebook's or the
        server's). Returns False when there is no running loop (then call ``flush()``)."""
        import asyncio

        import panel as pn

        if self._timer is not None:
            self._wake()
            return True
        served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
        if not served:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return False
            compat.comms_on_main_thread()
        self._doc = pn.state.curdoc if served else None
        self._timer = pn.state.add_periodic_callback(
            self._on_timer, period=max(10, int(1000 / self.max_fps)))
        if served:
            pn.state.on_session_destroyed(lambda _ctx: self.close())
        return True

    def close(self) -> None:
        """Stop listening to the bot and stop the timer (the bot itself keeps running)."""
        self._closed = True
        self.bot.unsubscribe(self._on_event)
        if self._timer is not None:
            try:
                self._timer.stop()
            except Exception:  # noqa: BLE001 - the session is already gone
                pass
            self._timer = None
        for sink in self._sinks:
            sink.destroy()
        self._sinks = []
        self._pending = []

    def _build(self):
        import holoviews as hv
        import holoviews.plotting.bokeh  # noqa: F401 - registers the bokeh options, no output
        import panel as pn

        try:
            hv.opts.Curve  # noqa: B018 - the option builders exist once a backend is selected
        except AttributeError:
            hv.Store.set_current_backend("bokeh")  # as hv.extension does, minus notebook output
        time_dim = hv.Dimension("timestamp", label="time (UTC)")
        price = ("close", "price")
        width_opts = dict(responsive=True, height=300, show_grid=True, toolbar="above",
                          default_tools=["pan", "wheel_zoom", "reset", "hover"])
        color = {c: COLORS[i % len(COLORS)] for i, c in enumerate(self.indicators)}
        over = [c for c in self.indicators if c in self.overlay]
        below = [c for c in self.indicators if c not in self.overlay]
        cols = self._cols

        def prices(data):
            layers = [hv.Curve(data, time_dim, price, group="Close", label="close")]
            layers += [hv.Curve(data, time_dim, (cols[c], "price"), label=c).opts(color=color[c])
                       for c in over]
            layers += [hv.Scatter(data[data["entry_exit"] > 0], time_dim, price, group="Buy",
                                  label="buy"),
                       hv.Scatter(data[data["entry_exit"] < 0], time_dim, price, group="Sell",
                                  label="sell")]
            return hv.Overlay(layers)

        def indicators(data):
            return hv.Overlay([hv.Curve(data, time_dim, (cols[c], c), label=c).opts(color=color[c])
                               for c in below])

        def equity(data):
            return hv.Curve(data, time_dim, ("equity", "equity (USD)"), label="equity")

        name = getattr(self.bot.strategy, "name", "strategy")
        # Options are set once on the DynamicMaps, not on every element of every update.
        ticks = self.buffers["ticks"]
        plots = {
            "prices": hv.DynamicMap(prices, streams=[ticks]).opts(
                hv.opts.Curve("Close", color="#1f77b4", alpha=0.6),
                hv.opts.Scatter("Buy", marker="triangle", color="green", size=12),
                hv.opts.Scatter("Sell", marker="inverted_triangle", color="red", size=12),
                hv.opts.Overlay(title=f"prices, {name}, buys and sells",
                                legend_position="top_left", **width_opts)),
        }
        if below:
            bands = [hv.HLine(v).opts(color="#999", line_dash="dashed", line_width=1)
                     for v in self._bands()]
            plots["indicators"] = (hv.DynamicMap(indicators, streams=[ticks]) * hv.Overlay(bands)
                                   ).opts(hv.opts.Overlay(title=f"{name}: {', '.join(below)}",
                                                          legend_position="top_left",
                                                          **{**width_opts, "height": 200}))
        plots["equity"] = hv.DynamicMap(equity, streams=[ticks]).opts(
            hv.opts.Curve(title="equity", color="#2ca02c", **width_opts))
        self.plots = plots
        self._status = pn.pane.HTML("", sizing_mode="stretch_width",
                                    styles={"font-family": "monospace", "font-size": "14px"})
        self._account_pane = pn.pane.HTML("", sizing_mode="stretch_width")
        self._table = pn.pane.DataFrame(self._table_frame(), sizing_mode="stretch_width",
                                        index=True, float_format="{:,.2f}".format)
        pane = dict(sizing_mode="stretch_width", linked_axes=False)
        layout = _layout_class()(
            f"## {html.escape(self.title)}: {html.escape(self.bot.name)} on "
            f"{html.escape(self.bot.feed.spec)}",
            self._status,
            self._account_pane,
            *[pn.pane.HoloViews(plot, **pane) for plot in plots.values()],
            "### Signals (newest 10)",
            self._table,
            sizing_mode="stretch_width",
        )
        layout._jarvis_lock = self._lock
        self._layout = layout
        self._refresh_widgets()
        return layout

    def _bands(self) -> list[float]:
        """Horizontal reference lines of the indicator panel: the strategy's numeric
        ``lower``/``upper`` parameters (an RSI's 30/70), if it has them."""
        params = getattr(self.bot.strategy, "params", None) or {}
        return [float(params[k]) for k in ("lower", "upper")
                if isinstance(params.get(k), (int, float)) and not isinstance(params.get(k), bool)]

    def __repr__(self) -> str:
        return (f"<Dashboard of {self.bot.name!r}: backlog {self.backlog}, {self.updates} updates, "
                f"{self.pending} pending>")
