"""The class leaderboard: every bot in a shared database, side by side, updated live.

One PostgreSQL server (or one SQLite file) for the whole class, one ``--name`` per
student; the instructor runs ``jarvis class --db URL`` and puts the page on the projector.
In a notebook, ``Leaderboard(store)`` shows the same table.

For each bot that registered in the database (every ``Bot`` does on its first tick):
name, strategy and parameters (from its stored config; an old config is the sma with its
short/long), equity (its trade ledger valued at its last tick), return and buy-and-hold
over the same ticks, fills, maximum drawdown, ticks, the time of its last tick, and
whether it is running.

*Running* means: the leaderboard saw a new tick from the bot within the last
``stale_after`` seconds (10 by default) of wall-clock time. Tick times cannot tell (a
replay's ticks are stamped with the candles' times, years ago), so the board watches the
tick count move. A bot shows ``checking`` until it has been watched that long (the
first read cannot tell a live bot from yesterday's), and ``stopped`` once that much time
passes without a new tick.

Read-only: a SQLite file is opened with ``mode=ro`` and ``PRAGMA query_only``, a
PostgreSQL session with ``default_transaction_read_only``; only SELECTs are issued, each
bot's new ticks and fills since the last refresh (nothing is read twice). The URL shown
on the page hides the password.

>>> from jarvis_helpers import Store
>>> from jarvis_helpers.ticks import Tick
>>> store = Store("sqlite://")
>>> _ = store.register_bot("ada", {"symbol": "BTC/USD", "cash": 1000.0, "fee": 0.0,
...                              "strategy": "sma", "params": {"short": 2, "long": 4}})
>>> store.write("ada", [(Tick("BTC/USD", f"2020-01-01T0{h}:00Z", p), None)
...                     for h, p in enumerate([10.0, 12.0, 9.0])])
>>> board = ClassBoard(store)
>>> row = board.refresh().iloc[0]
>>> print(row["bot"], row["strategy"], row["params"], row["equity"], row["ticks"], f"{row['buy_hold']:+.0%}")
ada sma long=4, short=2 1000.0 3 -10%
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .account import DEFAULT_FEE
from .errors import ConfigError, JarvisError, StoreError
from .strategy import normalised_config

COLUMNS = ["bot", "strategy", "params", "equity", "return", "buy_hold", "vs_buy_hold", "trades",
           "max_drawdown", "ticks", "last_tick", "status"]
TITLES = {"bot": "bot", "strategy": "strategy", "params": "parameters", "equity": "equity",
          "return": "return", "buy_hold": "buy & hold", "vs_buy_hold": "vs buy & hold",
          "trades": "fills", "max_drawdown": "max drawdown", "ticks": "ticks",
          "last_tick": "last tick (UTC)", "status": "status"}


def read_only_engine(url) -> tuple[sa.engine.Engine, str]:
    """An engine that cannot write, where the backend allows it; and the URL to show.

    SQLite: the file must exist; opened ``mode=ro`` with ``query_only`` and a busy timeout.
    PostgreSQL: every transaction read-only. Others: a plain engine (only SELECTs are sent).

    >>> read_only_engine("sqlite:///no/such/class.sqlite")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.StoreError: no database at 'no/such/class.sqlite': give the file the bots write to (jarvis run --db sqlite:///class.sqlite)
    """
    text = str(url)
    if "://" not in text:
        text = f"sqlite:///{text}"
    try:
        parsed = sa.engine.make_url(text)
    except Exception:
        raise ConfigError(f"malformed database URL {text!r}: use 'sqlite:///class.sqlite' or "
                          "'postgresql+psycopg://user:password@host/dbname'") from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise ConfigError(f"{shown!r} is an in-memory database: the leaderboard reads the file "
                              "the bots write to (sqlite:///class.sqlite)")
        if not Path(path).is_file():
            raise StoreError(f"no database at {path!r}: give the file the bots write to "
                             "(jarvis run --db sqlite:///class.sqlite)")
        uri = Path(path).resolve().as_uri() + "?mode=ro"

        def connect():
            conn = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA query_only = 1")
            return conn

        return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool), shown
    kwargs = {"pool_pre_ping": True}
    if backend == "postgresql":
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    try:
        return sa.create_engine(parsed, **kwargs), shown
    except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use database URL {shown!r} ({exc})") from None


def describe_strategy(config: dict) -> tuple[str, str]:
    """``(name, "k=v, ...")`` from a bot's stored config; an old config is the sma.

    >>> describe_strategy({"short": 5, "long": 30, "cash": 100})
    ('sma', 'short=5, long=30')
    >>> describe_strategy({"strategy": "rsi", "params": {"period": 14, "lower": 30.0}})
    ('rsi', 'period=14, lower=30.0')
    """
    config = normalised_config(config)
    params = config.get("params") or {}
    return str(config["strategy"]), ", ".join(f"{k}={v}" for k, v in params.items())


@dataclass
class _BotState:
    """What the board knows of one bot, advanced with each refresh (never re-read)."""

    name: str
    strategy: str
    params: str
    cash0: float
    fee: float
    cash: float
    position: float = 0.0
    fills: int = 0
    ticks: int = 0
    last_ts: int = -(2**62)  # microseconds of the newest tick read
    trade_ts: int = -(2**62)  # microseconds of the newest fill applied
    first_close: float = math.nan
    last_close: float = math.nan
    peak: float = math.nan
    max_drawdown: float = 0.0
    first_seen: float = 0.0
    last_change: float | None = None  # when a read (not the first) found new ticks
    reads: int = 0


class ClassBoard:
    """The leaderboard's data, without any page: ``refresh()`` -> one row per bot.

    ``store``: a ``Store`` (read through its engine), or a database URL (opened read-only,
    see ``read_only_engine``). ``stale_after``: seconds without a new tick after which a
    bot shows as stopped. Thread-safe; refreshes closer than ``min_period`` seconds apart
    share one read (several browser tabs do not multiply the queries).
    """

    def __init__(self, store, *, stale_after: float = 10.0, min_period: float = 0.25,
                 clock=time.monotonic):
        if isinstance(stale_after, bool) or not isinstance(stale_after, (int, float)) \
                or not stale_after > 0:
            raise ConfigError(f"stale_after={stale_after!r}: give seconds > 0 (e.g. 10)")
        engine = getattr(store, "engine", None)
        if engine is not None:
            self.engine, self.safe_url, self._owns = engine, store.safe_url, False
        else:
            self.engine, self.safe_url = read_only_engine(store)
            self._owns = True
        self.stale_after, self.min_period, self._clock = float(stale_after), min_period, clock
        self._bots: dict[str, _BotState] = {}
        self._lock = threading.Lock()
        self._frame = pd.DataFrame(columns=COLUMNS)
        self._read_at: float | None = None
        self.error: str = ""

    def close(self) -> None:
        if self._owns:
            self.engine.dispose()

    # -- reading ------------------------------------------------------------------------
    def refresh(self) -> pd.DataFrame:
        """Read what is new and return the table (sorted by return, best first).

        A database that cannot be read right now (a server restarting, a locked file past
        the busy timeout) keeps the last table and sets ``error`` to one line; it never
        raises from here.
        """
        with self._lock:
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self.min_period:
                return self._frame.copy()
            try:
                self._read(now)
                self.error = ""
            except sa.exc.SQLAlchemyError as exc:
                self.error = f"cannot read {self.safe_url}: {str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}"
            self._read_at = now
            self._frame = self._table(now)
            return self._frame.copy()

    def _read(self, now: float) -> None:
        from .store import bots_table, ticks_table, trades_table

        with self.engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(bots_table.name):
                return
            for name, config in conn.execute(sa.select(bots_table.c.name, bots_table.c.config)):
                if name not in self._bots:
                    self._bots[name] = self._new_state(name, config, now)
            t, f = ticks_table.c, trades_table.c
            for state in self._bots.values():
                rows = conn.execute(sa.select(t.ts, t.close).where(t.bot == state.name)
                                    .where(t.ts > state.last_ts).order_by(t.ts)).all()
                state.reads += 1
                if not rows:
                    continue
                ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                close = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
                # fills up to the newest tick read: a fill commits with its tick, so one
                # newer than that belongs to a tick the next refresh will read
                fills = conn.execute(
                    sa.select(f.ts, f.side, f.price).where(f.bot == state.name)
                    .where(f.ts > state.trade_ts).where(f.ts <= int(ts[-1]))
                    .order_by(f.ts, f.id)).all()
                self._advance(state, ts, close, fills)
                if state.reads > 1:
                    state.last_change = now

    @staticmethod
    def _new_state(name: str, config_text: str, now: float) -> _BotState:
        try:
            config = json.loads(config_text)
        except (TypeError, ValueError):
            config = {}
        strategy, params = describe_strategy(config)
        cash = float(config.get("cash", 10_000))
        fee = float(config.get("fee", DEFAULT_FEE))
        return _BotState(name, strategy, params, cash, fee, cash, first_seen=now)

    @staticmethod
    def _advance(state: _BotState, ts: np.ndarray, close: np.ndarray, fills) -> None:
        """Apply new ticks and fills: the ledger's arithmetic (``account.fill``) at each
        fill, equity at every tick's close, the running peak and the worst drawdown."""
        from .account import fill

        cash_after, pos_after, at = [state.cash], [state.position], []
        for fts, side, price in fills:
            _, _, cash, pos = fill(side, cash_after[-1], pos_after[-1], float(price), state.fee)
            cash_after.append(cash)
            pos_after.append(pos)
            at.append(int(fts))
        # fills applied before each tick: those stamped at or before its time
        applied = np.searchsorted(np.asarray(at, dtype=np.int64), ts, side="right")
        equity = np.asarray(cash_after)[applied] + np.asarray(pos_after)[applied] * close
        peak = np.fmax.accumulate(np.concatenate([[state.peak], equity]))[1:]
        drawdown = equity / peak - 1.0
        state.max_drawdown = float(min(state.max_drawdown, np.nanmin(drawdown)))
        state.peak = float(peak[-1])
        state.cash, state.position = cash_after[-1], pos_after[-1]
        state.fills += len(at)
        state.ticks += len(ts)
        if math.isnan(state.first_close):
            state.first_close = float(close[0])
        state.last_close = float(close[-1])
        state.last_ts = int(ts[-1])
        if at:
            state.trade_ts = at[-1]

    def _status(self, state: _BotState, now: float) -> str:
        if state.last_change is not None and now - state.last_change < self.stale_after:
            return "running"
        if now - state.first_seen < self.stale_after:
            return "checking"
        return "stopped"

    def _table(self, now: float) -> pd.DataFrame:
        rows = []
        for s in self._bots.values():
            equity = s.cash + s.position * s.last_close if s.ticks else s.cash0
            bh = (s.cash0 / (s.first_close * (1 + s.fee)) * s.last_close / s.cash0 - 1.0
                  if s.ticks else math.nan)
            ret = equity / s.cash0 - 1.0
            rows.append({
                "bot": s.name, "strategy": s.strategy, "params": s.params,
                "equity": round(float(equity), 2), "return": float(ret), "buy_hold": float(bh),
                "vs_buy_hold": float(ret - bh), "trades": s.fills,
                "max_drawdown": float(s.max_drawdown), "ticks": s.ticks,
                "last_tick": (pd.Timestamp(s.last_ts * 1000, tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
                              if s.ticks else ""),
                "status": self._status(s, now),
            })
        frame = pd.DataFrame(rows, columns=COLUMNS)
        if not frame.empty:
            frame = frame.sort_values(["return", "bot"], ascending=[False, True], kind="stable")
        return frame.reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------------

def _formatters() -> dict:
    from bokeh.models.widgets.tables import NumberFormatter

    pct = NumberFormatter(format="+0.00%")
    return {"equity": NumberFormatter(format="0,0.00"), "return": pct, "buy_hold": pct,
            "vs_buy_hold": pct, "max_drawdown": NumberFormatter(format="0.00%")}


_TABLE: dict = {}


def _tabulator_in_notebook() -> None:
    """In a notebook, load Tabulator's JavaScript once (through the same loader as the
    workbook's ``extension()``); a served page gets it from Panel's server by itself."""
    import panel as pn

    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    if getattr(get_ipython(), "kernel", None) is None or pn.state.served or "notebook" in _TABLE:
        return
    _TABLE["notebook"] = True
    pn.extension("tabulator")


def _table_class():
    """``pn.widgets.Tabulator`` without Bokeh's pandas-3 deprecation warning.

    Bokeh's ``ColumnDataSource.from_df`` calls ``reset_index(inplace=True)`` (on its own
    copy), which pandas 3.1 deprecates: every update would warn. Built on first use (Panel
    is imported lazily).
    """
    if "cls" not in _TABLE:
        import panel as pn

        class LeaderboardTable(pn.widgets.Tabulator):
            def _process_df_and_convert_to_cds(self, df):
                with warnings.catch_warnings():
                    warnings.filterwarnings(
                        "ignore", message="The inplace keyword in DataFrame.reset_index")
                    return super()._process_df_and_convert_to_cds(df)

        _TABLE["cls"] = LeaderboardTable
    return _TABLE["cls"]


def Leaderboard(store, *, period: float = 1.0, stale_after: float = 10.0):
    """The leaderboard as a Panel object (a page served by ``jarvis class``, or a cell's
    output in a notebook): a sortable, read-only table, refreshed every ``period`` seconds.

    ``store``: a ``Store``, a database URL, or a ``ClassBoard`` shared between pages.
    """
    import panel as pn

    if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
        raise ConfigError(f"period={period!r}: give seconds > 0 (e.g. 1)")
    board = store if isinstance(store, ClassBoard) else ClassBoard(store, stale_after=stale_after)
    _tabulator_in_notebook()
    first = board.refresh()
    table = _table_class()(
        first, disabled=True, show_index=False, sortable=True, titles=TITLES,
        formatters=_formatters(), layout="fit_data_table", sizing_mode="stretch_width",
        css_classes=["jarvis-leaderboard"], pagination=None,
    )
    header = pn.pane.Markdown(_header(board, first), css_classes=["jarvis-class-status"],
                              sizing_mode="stretch_width")

    def update():
        frame = board.refresh()
        if not frame.equals(table.value):  # unchanged: nothing re-sent to the page
            table.value = frame
        header.object = _header(board, frame)

    page = pn.Column(pn.pane.Markdown("## JARVIS class leaderboard"), header, table,
                     sizing_mode="stretch_width")
    callback = pn.state.add_periodic_callback(update, period=int(period * 1000), start=True)
    page.board, page.table, page.callback, page.update = board, table, callback, update
    return page


def _header(board: ClassBoard, frame: pd.DataFrame) -> str:
    running = int((frame["status"] == "running").sum()) if not frame.empty else 0
    when = pd.Timestamp.now(tz="UTC").strftime("%H:%M:%S")
    text = (f"{len(frame)} bot{'' if len(frame) == 1 else 's'}, {running} running · `{board.safe_url}` · updated {when} UTC · "
            f"running = a new tick within {board.stale_after:g} s")
    return text + (f"\n\n**{board.error}**" if board.error else "")


# ------------------------------------------------------------------------------------------
# jarvis class
# ------------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    """Add ``jarvis class`` to the CLI's subparsers."""
    from .cli import _seconds, _whole_number

    p = sub.add_parser("class", help="the class leaderboard: every bot in a shared database")
    p.add_argument("--db", required=True,
                   help="the database the bots write to (postgresql+psycopg://... or sqlite:///file)")
    p.add_argument("--port", type=_whole_number(0, 65535, what="a port number (0-65535)"),
                   default=5007, help="port (5007; 0 picks a free one)")
    p.add_argument("--period", type=_seconds, default=1.0, help="seconds between updates (1)")
    p.add_argument("--stale-after", type=_seconds, default=10.0,
                   help="seconds without a new tick before a bot shows as stopped (10)")
    p.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (127.0.0.1; 0.0.0.0 for the class network)")
    p.add_argument("--show", action="store_true", help="open a browser")
    p.set_defaults(func=main)


def main(args) -> int:
    """Serve the leaderboard until Ctrl-C / SIGTERM."""
    import signal

    import panel as pn

    for what in ("period", "stale_after"):
        if not getattr(args, what) > 0:
            raise ConfigError(f"--{what.replace('_', '-')} {getattr(args, what)!r}: give seconds > 0")
    board = ClassBoard(args.db, stale_after=args.stale_after)
    board.refresh()  # a database that cannot be read fails here, before serving
    if board.error:
        board.close()
        raise StoreError(board.error)
    port, address = args.port, args.address
    origins = sorted({f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}", "*"}
                     if address == "0.0.0.0" else {f"{address}:{port}", f"localhost:{port}",
                                                   f"127.0.0.1:{port}"})
    server = pn.serve({"/": lambda: Leaderboard(board, period=args.period)}, port=port,
                      address=address, show=args.show, start=False, title="JARVIS class",
                      websocket_origin=origins, verbose=False)
    loop = server.io_loop.asyncio_loop
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, server.io_loop.stop)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    server.start()
    print(f"JARVIS class leaderboard: http://{address}:{server.port}/  ({board.safe_url}, read-only; "
          "Ctrl-C stops)", flush=True)
    try:
        server.io_loop.start()
    finally:
        server.stop()
        board.close()
    return 0


def run(argv=None) -> int:
    """``python -m jarvis_helpers.leaderboard --db URL``: the same as ``jarvis class``
    (usable before the CLI hook exists)."""
    from .cli import PROG, _line, _Parser

    parser = _Parser(prog=f"{PROG} class")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["class", *(sys.argv[1:] if argv is None else argv)])
    try:
        return main(args)
    except JarvisError as exc:
        print(f"{PROG}: error: {_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
