"""The Store: every tick and trade, persisted with SQLAlchemy Core on any database URL.

Default ``sqlite:///algo_trader_history.sqlite`` (WAL journal, busy timeout, so several
bots can share one file); PostgreSQL with a ``postgresql+psycopg://`` URL, same code.
Ticks are keyed by (bot, symbol, timestamp): writing one twice is a no-op. Reads return
the *newest* N rows in time order. Nothing is ever dropped on start: a database of an
older schema gains the new nullable columns (``ALTER TABLE ... ADD COLUMN``) and keeps
every row. Downloaded history lives in ``jarvis_candles``, keyed by (exchange, symbol,
timeframe, open time).

>>> import pandas as pd
>>> from jarvis_helpers.ticks import Tick
>>> store = Store("sqlite://")                      # in memory, for the example
>>> t = Tick("BTC/USD", "2020-01-01T00:00Z", 7200.0)
>>> store.write("demo", [(t, None), (t, None)])     # the same tick twice: stored once
>>> store.count_ticks("demo")
1
>>> store.recent_ticks(5, bot="demo")["close"].tolist()
[7200.0]
>>> bars = pd.DataFrame({"open": [1.0, 2.0], "high": [2.0, 3.0], "low": [1.0, 2.0],
...                      "close": [2.0, 3.0], "volume": [5.0, 6.0]},
...                     index=pd.date_range("2024-01-01", periods=2, freq="h", tz="UTC"))
>>> store.write_candles("kraken", "BTC/USD", "1h", bars), store.write_candles("kraken", "BTC/USD", "1h", bars)
(2, 0)
>>> store.candles("kraken", "BTC/USD", "1h")["close"].tolist()
[2.0, 3.0]
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from .account import Trade
from .errors import ConfigError, StoreError
from .ticks import Tick

DEFAULT_URL = "sqlite:///algo_trader_history.sqlite"
SCHEMA_VERSION = 2
# Schema 2: ticks gained nullable open/high/low/volume (a closed candle is a tick too) and
# the jarvis_candles table. Columns listed here are added to an older table on open.
_ADDED_COLUMNS = {"jarvis_ticks": ("open", "high", "low", "volume")}

metadata = sa.MetaData()

# Times are integer microseconds since the epoch, UTC: exact, sortable and portable
# (the lesson's index went through SQL as a text column named "index").
ticks_table = sa.Table(
    "jarvis_ticks", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bot", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("close", sa.Float(precision=53), nullable=False),
    sa.Column("open", sa.Float(precision=53), nullable=True),
    sa.Column("high", sa.Float(precision=53), nullable=True),
    sa.Column("low", sa.Float(precision=53), nullable=True),
    sa.Column("volume", sa.Float(precision=53), nullable=True),
    sa.UniqueConstraint("bot", "symbol", "ts", name="uq_jarvis_ticks_bot_symbol_ts"),
)
# Candles of an exchange, shared by every bot: downloaded history, imported CSV files and
# the closed candles a live feed delivered. ``ts`` is the candle's OPEN time (ccxt's rule).
candles_table = sa.Table(
    "jarvis_candles", metadata,
    sa.Column("exchange", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("timeframe", sa.String(8), primary_key=True),
    sa.Column("ts", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("open", sa.Float(precision=53), nullable=False),
    sa.Column("high", sa.Float(precision=53), nullable=False),
    sa.Column("low", sa.Float(precision=53), nullable=False),
    sa.Column("close", sa.Float(precision=53), nullable=False),
    sa.Column("volume", sa.Float(precision=53), nullable=True),
)
trades_table = sa.Table(
    "jarvis_trades", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("bot", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("price", sa.Float(precision=53), nullable=False),
    sa.Column("units", sa.Float(precision=53), nullable=False),
    sa.Column("fee", sa.Float(precision=53), nullable=False),
    sa.UniqueConstraint("bot", "symbol", "ts", name="uq_jarvis_trades_bot_symbol_ts"),
)
bots_table = sa.Table(
    "jarvis_bots", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),  # JSON: symbol, feed, cash, fee, short, long
    sa.Column("created", sa.BigInteger, nullable=False),
)
meta_table = sa.Table(
    "jarvis_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_bot_name(name) -> str:
    """A bot name: 1-64 letters, digits, ``_ . -``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"bad bot name {name!r}: use 1-64 letters, digits, '_', '.' or '-' (for example 'jarvis')"
        )
    return name


def _to_micros(ts: pd.Timestamp) -> int:
    return ts.value // 1000


def _from_micros(values) -> pd.DatetimeIndex:
    # nanoseconds, as everywhere else in the package (pandas 3 would keep microseconds)
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(values, dtype="int64"), unit="us", utc=True)).as_unit("ns")


class Store:
    """Persist ticks, trades and bot configurations in one database.

    ``url``: a SQLAlchemy URL (default ``sqlite:///algo_trader_history.sqlite``), or a
    plain path to a SQLite file. Opening never drops or rewrites existing data.
    """

    def __init__(self, url: str | None = None, *, echo: bool = False):
        url = url or os.environ.get("JARVIS_DB") or DEFAULT_URL
        if isinstance(url, Path) or ("://" not in str(url)):
            url = f"sqlite:///{url}"
        try:
            parsed = make_url(url)
        except Exception:
            raise ConfigError(
                f"malformed database URL {url!r}: use 'sqlite:///path/to/file.sqlite' or "
                "'postgresql+psycopg://user:password@host/dbname'"
            ) from None
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        self.path = None
        kwargs: dict = {"echo": echo}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                self.path = Path(database)
                self._check_sqlite_path(self.path)
            else:
                kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except (ImportError, sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
            raise ConfigError(
                f"cannot use database URL {self.safe_url!r} ({exc}): use 'sqlite:///file.sqlite' "
                "or 'postgresql+psycopg://user:password@host/dbname'"
            ) from None
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_on_connect)
            sa.event.listen(self.engine, "begin", _sqlite_on_begin)
            if self.path is not None:
                sa.event.listen(self.engine, "handle_error",
                                functools.partial(_damaged_sqlite_file, self.path))
        self._insert_trade = _idempotent_inserts(self.dialect)  # ticks, candles: DBAPI SQL below
        mark = "?" if self.dialect == "sqlite" else "%s"
        self._insert_tick_sql = (
            "INSERT INTO jarvis_ticks (bot, symbol, ts, close, open, high, low, volume) VALUES "
            f"({', '.join([mark] * 8)}) ON CONFLICT DO NOTHING")
        self._insert_candle_sql = (
            "INSERT INTO jarvis_candles (exchange, symbol, timeframe, ts, open, high, low, close, "
            f"volume) VALUES ({', '.join([mark] * 9)}) ON CONFLICT DO NOTHING")
        try:
            self._open()
        except BaseException:
            self.engine.dispose()  # a refused database leaves no connection behind
            raise

    # -- opening -------------------------------------------------------------------
    @property
    def safe_url(self) -> str:
        """The URL with any password hidden (safe to print or log)."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Store({self.safe_url!r})"

    @staticmethod
    def _check_sqlite_path(path: Path) -> None:
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.exists():
            raise StoreError(
                f"cannot create database {str(path)!r}: folder {str(folder)!r} does not exist "
                "(create it, or give another --db path)"
            )
        if path.exists():
            if not os.access(path, os.R_OK | os.W_OK):
                raise StoreError(
                    f"cannot open database {str(path)!r}: no permission to read and write it"
                )
            with open(path, "rb") as fh:
                head = fh.read(16)
            if head and head != b"SQLite format 3\x00":
                raise StoreError(
                    f"{str(path)!r} is not a SQLite database (it may be truncated or corrupt); it "
                    "was left untouched: move it aside or give another --db path"
                )
        elif not os.access(folder, os.W_OK):
            raise StoreError(
                f"cannot create database {str(path)!r}: folder {str(folder)!r} is not writable "
                "(give another --db path)"
            )

    def _open(self) -> None:
        try:
            with self.engine.begin() as conn:
                self._check_layout(conn)  # before anything is created: refuse, change nothing
                self._check_schema(conn)
                metadata.create_all(conn, checkfirst=True)
                self._migrate(conn)
        except sa.exc.OperationalError as exc:
            raise StoreError(self._explain(exc)) from None
        except sa.exc.DatabaseError as exc:
            raise StoreError(
                f"{self.safe_url!r} cannot be read as a database ({exc.orig}); it was left "
                "untouched: move it aside or give another --db"
            ) from None

    def _explain(self, exc) -> str:
        where = repr(str(self.path)) if self.path else repr(self.safe_url)
        return (
            f"cannot open database {where}: {exc.orig}. Check the path or URL, the server and "
            "your permissions; nothing was changed"
        )

    def _check_layout(self, conn) -> None:
        """Refuse jarvis tables of another (older) layout, rather than guess or drop them."""
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            found = {c["name"] for c in inspector.get_columns(table.name)}
            addable = _ADDED_COLUMNS.get(table.name, ())
            missing = [c.name for c in table.columns if c.name not in found and c.name not in addable]
            if missing:
                raise StoreError(
                    f"{self.safe_url!r} has a {table.name} table of an older layout (no column "
                    f"{', '.join(map(repr, missing))}); it was left untouched: give another --db, "
                    "or move the file aside and export its rows first"
                )

    def _check_schema(self, conn) -> None:
        if not sa.inspect(conn).has_table(meta_table.name):
            return
        row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema")).first()
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.safe_url!r} was written by a newer jarvis_helpers (schema {row[0]}, this "
                f"one knows {SCHEMA_VERSION}): upgrade the package; nothing was changed"
            )

    def _migrate(self, conn) -> None:
        """Bring an older schema up to date by adding nullable columns; drop nothing."""
        inspector = sa.inspect(conn)
        quote = conn.dialect.identifier_preparer.quote
        for name, columns in _ADDED_COLUMNS.items():
            table = metadata.tables[name]
            found = {c["name"] for c in inspector.get_columns(name)}
            for col in columns:
                if col not in found:
                    kind = table.c[col].type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {quote(name)} ADD COLUMN {quote(col)} {kind}")
        row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema")).first()
        if row is None:
            conn.execute(meta_table.insert().values(key="schema", value=str(SCHEMA_VERSION)))
        elif int(row[0]) < SCHEMA_VERSION:
            conn.execute(meta_table.update().where(meta_table.c.key == "schema")
                         .values(value=str(SCHEMA_VERSION)))

    def close(self) -> None:
        self.engine.dispose()

    def __del__(self):
        # A Store dropped without close() still closes its connections (a PostgreSQL
        # server would otherwise keep them until the process exits).
        engine = getattr(self, "engine", None)
        if engine is not None:
            try:
                engine.dispose()
            except Exception:  # pragma: no cover - interpreter shutdown
                pass

    # -- bots ------------------------------------------------------------------------
    def bot_config(self, bot: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(bots_table.c.config).where(bots_table.c.name == bot)).first()
        return None if row is None else json.loads(row[0])

    def register_bot(self, bot: str, config: dict) -> dict:
        """Record a bot's configuration on first use; return the stored one."""
        check_bot_name(bot)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(bots_table.c.config).where(bots_table.c.name == bot)).first()
            if row is not None:
                return json.loads(row[0])
            conn.execute(bots_table.insert().values(
                name=bot, config=json.dumps(config, sort_keys=True), created=int(time.time() * 1e6)))
        return config

    def bots(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(bots_table.c.name).order_by(bots_table.c.name))]

    def reset(self, bot: str) -> None:
        """Delete this bot's ticks, trades and configuration (and nothing else)."""
        with self.engine.begin() as conn:
            for table in (ticks_table, trades_table):
                conn.execute(table.delete().where(table.c.bot == bot))
            conn.execute(bots_table.delete().where(bots_table.c.name == bot))

    # -- writing ---------------------------------------------------------------------
    def write(self, bot: str, rows) -> None:
        """Commit ticks and the trades they caused in one transaction.

        ``rows``: an iterable of ``(tick, trade_or_None)``. A tick or trade already stored
        is skipped, so writing the same rows again is harmless.
        """
        tick_rows, trade_rows = [], []
        for tick, trade in rows:
            volume = tick.volume
            tick_rows.append((bot, tick.symbol, tick.timestamp.value // 1000, tick.close, tick.open,
                              tick.high, tick.low, None if volume != volume else volume))
            if trade is not None:
                trade_rows.append({"bot": bot, "symbol": trade.symbol,
                                   "ts": _to_micros(trade.timestamp), "side": trade.side,
                                   "price": trade.price, "units": trade.units, "fee": trade.fee})
        if not tick_rows:
            return
        with self.engine.begin() as conn:
            # Plain DBAPI executemany of tuples: SQLAlchemy's per-row parameter processing
            # was most of the bot's time per tick; the statement is the same idempotent insert.
            conn.exec_driver_sql(self._insert_tick_sql, tick_rows)
            if trade_rows:
                conn.execute(self._insert_trade, trade_rows)

    # -- reading ---------------------------------------------------------------------
    def count_ticks(self, bot: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(ticks_table)
        if bot is not None:
            query = query.where(ticks_table.c.bot == bot)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def last_tick(self, bot: str) -> Tick | None:
        t = ticks_table.c
        query = (sa.select(t.symbol, t.ts, t.open, t.high, t.low, t.close, t.volume)
                 .where(t.bot == bot).order_by(t.ts.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Tick(row.symbol, pd.Timestamp(row.ts * 1000, tz="UTC"), row.close,
                    row.open, row.high, row.low, row.volume)

    def recent_ticks(self, n: int = 1000, bot: str | None = None, symbol: str | None = None) -> pd.DataFrame:
        """The newest ``n`` ticks, oldest first: a DataFrame indexed by UTC time, columns
        ``symbol open high low close volume`` (a plain price's open/high/low are its close,
        its volume NaN).

        (``SELECT ... LIMIT n`` alone returns whichever rows come first, in practice the
        oldest; the newest need ``ORDER BY ts DESC LIMIT n``, then reversing.)
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"n={n!r}: give a whole number of rows >= 0")
        t = ticks_table.c
        query = sa.select(t.ts, t.symbol, t.open, t.high, t.low, t.close, t.volume)
        if bot is not None:
            query = query.where(ticks_table.c.bot == bot)
        if symbol is not None:
            query = query.where(ticks_table.c.symbol == symbol)
        query = query.order_by(ticks_table.c.ts.desc(), ticks_table.c.id.desc()).limit(n)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        rows.reverse()
        close = [float(r.close) for r in rows]
        frame = pd.DataFrame(
            {"symbol": pd.Series([r.symbol for r in rows], dtype=object),
             "open": pd.Series(_float_or([r.open for r in rows], close), dtype=float),
             "high": pd.Series(_float_or([r.high for r in rows], close), dtype=float),
             "low": pd.Series(_float_or([r.low for r in rows], close), dtype=float),
             "close": pd.Series(close, dtype=float),
             "volume": pd.Series(_float_or([r.volume for r in rows], [math.nan] * len(rows)),
                                 dtype=float)},
        )
        frame.index = _from_micros([r.ts for r in rows])
        frame.index.name = "timestamp"
        return frame

    def trades(self, bot: str) -> list[Trade]:
        """The bot's trade ledger, oldest first."""
        query = (sa.select(trades_table).where(trades_table.c.bot == bot)
                 .order_by(trades_table.c.ts, trades_table.c.id))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Trade(r.symbol, pd.Timestamp(r.ts * 1000, tz="UTC"), r.side, r.price, r.units, r.fee)
                for r in rows]

    def trades_frame(self, bot: str) -> pd.DataFrame:
        """The ledger as a DataFrame indexed by UTC time (side, price, units, fee)."""
        trades = self.trades(bot)
        frame = pd.DataFrame(
            {"symbol": [t.symbol for t in trades], "side": [t.side for t in trades],
             "price": [t.price for t in trades], "units": [t.units for t in trades],
             "fee": [t.fee for t in trades]},
            index=pd.DatetimeIndex([t.timestamp for t in trades], name="timestamp",
                                   dtype="datetime64[ns, UTC]"),
        )
        return frame

    # -- candles -----------------------------------------------------------------------
    def write_candles(self, exchange: str, symbol: str, timeframe: str, candles) -> int:
        """Store candles; return how many were new (a candle already stored is skipped).

        ``candles``: a DataFrame indexed by open time (UTC) with ``open high low close
        volume``, or ccxt OHLCV rows ``[ms, open, high, low, close, volume]``. One
        transaction: after a crash either the whole batch is stored or none of it.
        """
        rows = _candle_rows(exchange, symbol, timeframe, candles)
        if not rows:
            return 0
        c = candles_table.c
        where = sa.and_(c.exchange == exchange, c.symbol == symbol, c.timeframe == timeframe,
                        c.ts >= rows[0][3], c.ts <= rows[-1][3])
        count = sa.select(sa.func.count()).select_from(candles_table).where(where)
        with self.engine.begin() as conn:
            before = conn.execute(count).scalar_one()
            conn.exec_driver_sql(self._insert_candle_sql, rows)  # DBAPI executemany of tuples
            after = conn.execute(count).scalar_one()
        return int(after - before)

    def candles(self, exchange: str, symbol: str, timeframe: str = "1h", since=None,
                until=None) -> pd.DataFrame:
        """Stored candles, oldest first: UTC DatetimeIndex (open time) named ``timestamp``,
        columns ``open high low close volume``. ``since``/``until``: inclusive bounds on
        the open time (anything ``pd.Timestamp`` reads; naive means UTC)."""
        c = candles_table.c
        query = (sa.select(c.ts, c.open, c.high, c.low, c.close, c.volume)
                 .where(c.exchange == exchange, c.symbol == symbol, c.timeframe == timeframe))
        if since is not None:
            query = query.where(c.ts >= _to_micros(_utc(since)))
        if until is not None:
            query = query.where(c.ts <= _to_micros(_utc(until)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(c.ts)).all()
        frame = pd.DataFrame(
            {"open": pd.Series([r.open for r in rows], dtype=float),
             "high": pd.Series([r.high for r in rows], dtype=float),
             "low": pd.Series([r.low for r in rows], dtype=float),
             "close": pd.Series([r.close for r in rows], dtype=float),
             "volume": pd.Series([math.nan if r.volume is None else r.volume for r in rows],
                                 dtype=float)})
        frame.index = _from_micros([r.ts for r in rows])
        frame.index.name = "timestamp"
        return frame

    def candle_range(self, exchange: str, symbol: str, timeframe: str):
        """``(first, last, count)`` of the stored candles' open times, or ``(None, None, 0)``."""
        c = candles_table.c
        query = (sa.select(sa.func.min(c.ts), sa.func.max(c.ts), sa.func.count())
                 .where(c.exchange == exchange, c.symbol == symbol, c.timeframe == timeframe))
        with self.engine.connect() as conn:
            first, last, count = conn.execute(query).one()
        if not count:
            return None, None, 0
        return (pd.Timestamp(first * 1000, tz="UTC"), pd.Timestamp(last * 1000, tz="UTC"),
                int(count))

    def candle_sets(self) -> pd.DataFrame:
        """What history is stored: one row per (exchange, symbol, timeframe) with its
        first and last open time and the number of candles."""
        c = candles_table.c
        query = (sa.select(c.exchange, c.symbol, c.timeframe, sa.func.min(c.ts).label("first"),
                           sa.func.max(c.ts).label("last"), sa.func.count().label("candles"))
                 .group_by(c.exchange, c.symbol, c.timeframe)
                 .order_by(c.exchange, c.symbol, c.timeframe))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pd.DataFrame(
            {"exchange": [r.exchange for r in rows], "symbol": [r.symbol for r in rows],
             "timeframe": [r.timeframe for r in rows],
             "first": _from_micros([r.first for r in rows]),
             "last": _from_micros([r.last for r in rows]),
             "candles": pd.Series([int(r.candles) for r in rows], dtype="int64")})


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _candle_rows(exchange, symbol, timeframe, candles) -> list[tuple]:
    """``(exchange, symbol, timeframe, ts, open, high, low, close, volume)`` tuples, by time."""
    if isinstance(candles, pd.DataFrame):
        if not isinstance(candles.index, pd.DatetimeIndex):
            raise ConfigError("candles need a DatetimeIndex of open times (UTC)")
        index = candles.index
        index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        micros = index.as_unit("us").asi8.tolist()
        cols = [candles[k].to_numpy(dtype=float).tolist() for k in ("open", "high", "low", "close")]
        volume = (candles["volume"].to_numpy(dtype=float) if "volume" in candles.columns
                  else np.full(len(candles), np.nan))
        volume = np.where(np.isnan(volume), None, volume).tolist()  # NaN stored as NULL
        rows = list(zip([exchange] * len(micros), [symbol] * len(micros),
                        [timeframe] * len(micros), micros, *cols, volume))
    else:
        rows = [(exchange, symbol, timeframe, int(r[0]) * 1000, float(r[1]), float(r[2]),
                 float(r[3]), float(r[4]), _nullable(r[5])) for r in candles]
    rows.sort(key=lambda r: r[3])
    return rows


def _damaged_sqlite_file(path, context) -> None:
    """A damaged file shows only when a broken page is read: say so, naming the file."""
    text = str(context.original_exception)
    if "malformed" in text or "not a database" in text:
        raise StoreError(
            f"database {str(path)!r} is damaged ({text}): jarvis will not repair or overwrite "
            "it; move it aside (sqlite3's .recover can save what is readable) and give another --db"
        )


def _sqlite_on_connect(dbapi_conn, _record):
    # Let SQLAlchemy issue BEGIN itself (pysqlite's own transaction handling is off), so
    # that writes start with BEGIN IMMEDIATE: two bots never deadlock on a lock upgrade.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 30000")
    try:
        cur.execute("PRAGMA journal_mode = WAL")
    except Exception:  # pragma: no cover - e.g. a read-only medium
        pass
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def _sqlite_on_begin(conn):
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _idempotent_inserts(dialect: str):
    """The trades insert that skips a row already stored (ticks and candles are written with
    the plain SQL the Store builds for DBAPI executemany); refuses other databases."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise ConfigError(
            f"database {dialect!r} is not supported: use SQLite ('sqlite:///file.sqlite') or "
            "PostgreSQL ('postgresql+psycopg://user:password@host/dbname')"
        )
    return insert(trades_table).on_conflict_do_nothing()


def _nullable(value):
    """NaN is stored as NULL (SQLite cannot keep a NaN; PostgreSQL would, differently)."""
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def _float_or(values, fallback) -> list:
    return [fb if v is None else float(v) for v, fb in zip(values, fallback)]
