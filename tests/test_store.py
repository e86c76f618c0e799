"""Store: idempotent writes, newest-N reads in time order, ledgers per bot, both backends."""

import pandas as pd
import pytest

from jarvis_helpers import Store
from jarvis_helpers.account import Trade
from jarvis_helpers.ticks import Tick

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def ticks(n, symbol="BTC/USD", start=0):
    return [Tick(symbol, T0 + pd.Timedelta(minutes=i), 100.0 + i) for i in range(start, start + n)]


def test_writing_a_tick_twice_is_a_no_op(store_url):
    store = Store(store_url)
    batch = [(t, None) for t in ticks(5)]
    store.write("a", batch)
    store.write("a", batch)  # the whole batch again
    store.write("a", batch[2:4] + [(t, None) for t in ticks(2, start=5)])
    assert store.count_ticks("a") == 7
    frame = store.recent_ticks(100, bot="a")
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    store.close()


def test_recent_ticks_are_the_newest_n_in_time_order(store_url):
    store = Store(store_url)
    rows = [(t, None) for t in ticks(1500)]
    store.write("a", rows[1000:])  # written out of order on purpose
    store.write("a", rows[:1000])
    frame = store.recent_ticks(1000, bot="a")
    assert len(frame) == 1000
    assert frame.index[0] == T0 + pd.Timedelta(minutes=500)
    assert frame.index[-1] == T0 + pd.Timedelta(minutes=1499)
    assert frame.index.is_monotonic_increasing
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"
    assert frame["close"].iloc[-1] == 100.0 + 1499
    store.close()


def test_timestamps_round_trip_exactly(store_url):
    store = Store(store_url)
    t = Tick("BTC/USD", pd.Timestamp("2024-03-10 12:34:56.789012", tz="UTC"), 65432.1)
    store.write("a", [(t, None)])
    assert store.last_tick("a") == t
    store.close()


def test_trades_ledger_is_per_bot_and_idempotent(store_url):
    store = Store(store_url)
    tick = ticks(1)[0]
    trade = Trade("BTC/USD", tick.timestamp, "buy", tick.close, 99.74, 25.9)
    store.write("a", [(tick, trade)])
    store.write("a", [(tick, trade)])
    store.write("b", [(tick, None)])
    assert store.trades("a") == [trade]
    assert store.trades("b") == []
    assert list(store.trades_frame("a").columns) == ["symbol", "side", "price", "units", "fee"]
    store.close()


def test_reopening_keeps_everything_and_reset_touches_one_bot(store_url):
    store = Store(store_url)
    store.register_bot("a", {"symbol": "BTC/USD"})
    store.write("a", [(t, None) for t in ticks(10)])
    store.write("b", [(t, None) for t in ticks(10)])
    store.close()
    again = Store(store_url)  # opening never drops anything
    assert again.count_ticks("a") == 10 and again.count_ticks("b") == 10
    assert again.bot_config("a") == {"symbol": "BTC/USD"}
    again.reset("a")
    assert again.count_ticks("a") == 0 and again.count_ticks("b") == 10
    assert again.bot_config("a") is None
    again.close()


def test_values_are_parameters_not_sql(store_url):
    store = Store(store_url)
    hostile = "x'; DROP TABLE jarvis_ticks; --"
    assert store.recent_ticks(5, bot=hostile).empty
    assert store.count_ticks(hostile) == 0
    store.write("a", [(t, None) for t in ticks(3)])
    assert store.count_ticks("a") == 3
    store.close()


def test_sqlite_file_uses_wal(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.close()


def test_plain_path_means_sqlite(tmp_path):
    store = Store(str(tmp_path / "plain.sqlite"))
    assert store.dialect == "sqlite" and (tmp_path / "plain.sqlite").exists()
    store.close()


def test_password_never_shown():
    with pytest.raises(Exception) as info:
        Store("postgresql+psycopg://user:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(info.value)


# -- schema 2: OHLCV ticks, candles, migration ------------------------------------------

def test_a_candle_tick_keeps_its_ohlcv(store_url):
    store = Store(store_url)
    bar = Tick("BTC/USD", T0, 101.5, open=100.0, high=102.25, low=99.5, volume=3.75)
    plain = Tick("BTC/USD", T0 + pd.Timedelta(hours=1), 103.0)
    store.write("a", [(bar, None), (plain, None)])
    frame = store.recent_ticks(10, bot="a")
    assert list(frame.columns) == ["symbol", "open", "high", "low", "close", "volume"]
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [
        100.0, 102.25, 99.5, 101.5, 3.75]
    # a plain price is a flat bar of unknown volume
    assert frame.iloc[1][["open", "high", "low", "close"]].tolist() == [103.0] * 4
    assert pd.isna(frame.iloc[1]["volume"])
    assert store.last_tick("a") == plain
    store.close()


def _bars(n, start=T0, freq="1h", price=100.0):
    index = pd.date_range(start, periods=n, freq=freq, tz="UTC", name="timestamp").as_unit("ns")
    close = [price + i for i in range(n)]
    return pd.DataFrame({"open": [c - 0.5 for c in close], "high": [c + 1 for c in close],
                         "low": [c - 1 for c in close], "close": close,
                         "volume": [0.25 * i for i in range(n)]}, index=index)


def test_candles_are_keyed_and_written_once(store_url):
    store = Store(store_url)
    bars = _bars(48)
    assert store.write_candles("kraken", "BTC/USD", "1h", bars.iloc[:30]) == 30
    assert store.write_candles("kraken", "BTC/USD", "1h", bars) == 18  # overlap skipped
    assert store.write_candles("kraken", "BTC/USD", "1h", bars) == 0
    # other keys are other series
    assert store.write_candles("kraken", "BTC/USD", "4h", bars.iloc[::4]) == 12
    assert store.write_candles("binance", "BTC/USD", "1h", bars.iloc[:5]) == 5
    got = store.candles("kraken", "BTC/USD", "1h")
    pd.testing.assert_frame_equal(got, bars, check_freq=False)
    assert str(got.index.tz) == "UTC" and got.index.name == "timestamp"
    window = store.candles("kraken", "BTC/USD", "1h", since=T0 + pd.Timedelta(hours=10),
                           until="2024-01-01 20:00")
    assert window.index[0] == T0 + pd.Timedelta(hours=10) and len(window) == 11
    first, last, count = store.candle_range("kraken", "BTC/USD", "1h")
    assert (first, last, count) == (bars.index[0], bars.index[-1], 48)
    assert store.candle_range("kraken", "ETH/USD", "1h") == (None, None, 0)
    sets = store.candle_sets()
    assert sets[["exchange", "timeframe", "candles"]].values.tolist() == [
        ["binance", "1h", 5], ["kraken", "1h", 48], ["kraken", "4h", 12]]
    assert store.candles("kraken", "ETH/USD", "1h").empty
    store.close()


def test_ccxt_rows_are_candles_too(store_url):
    store = Store(store_url)
    rows = [[1704067200000, 42283.6, 42554.5, 42261.0, 42475.2, 56.83],
            [1704070800000, 42475.2, 42775.0, 42431.7, 42631.2, 93.2]]
    assert store.write_candles("kraken", "BTC/USD", "1h", rows) == 2
    got = store.candles("kraken", "BTC/USD", "1h")
    assert got.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert got.reset_index(drop=True).values.tolist() == [r[1:] for r in rows]
    store.close()


def _schema_1(url):
    """The tables exactly as schema 1 (before OHLCV ticks and candles) created them."""
    import sqlalchemy as sa

    md = sa.MetaData()
    sa.Table("jarvis_ticks", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("bot", sa.String(64), nullable=False),
             sa.Column("symbol", sa.String(64), nullable=False),
             sa.Column("ts", sa.BigInteger, nullable=False),
             sa.Column("close", sa.Float(precision=53), nullable=False),
             sa.UniqueConstraint("bot", "symbol", "ts", name="uq_jarvis_ticks_bot_symbol_ts"))
    sa.Table("jarvis_trades", md,
             sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
             sa.Column("bot", sa.String(64), nullable=False),
             sa.Column("symbol", sa.String(64), nullable=False),
             sa.Column("ts", sa.BigInteger, nullable=False),
             sa.Column("side", sa.String(4), nullable=False),
             sa.Column("price", sa.Float(precision=53), nullable=False),
             sa.Column("units", sa.Float(precision=53), nullable=False),
             sa.Column("fee", sa.Float(precision=53), nullable=False),
             sa.UniqueConstraint("bot", "symbol", "ts", name="uq_jarvis_trades_bot_symbol_ts"))
    sa.Table("jarvis_bots", md, sa.Column("name", sa.String(64), primary_key=True),
             sa.Column("config", sa.Text, nullable=False),
             sa.Column("created", sa.BigInteger, nullable=False))
    sa.Table("jarvis_meta", md, sa.Column("key", sa.String(64), primary_key=True),
             sa.Column("value", sa.Text, nullable=False))
    engine = sa.create_engine(url)
    md.create_all(engine)
    micros = [(T0 + pd.Timedelta(minutes=i)).value // 1000 for i in range(5)]
    with engine.begin() as conn:
        conn.execute(md.tables["jarvis_meta"].insert().values(key="schema", value="1"))
        conn.execute(md.tables["jarvis_bots"].insert().values(
            name="old", config='{"symbol": "BTC/USD", "short": 10, "long": 20}', created=1))
        conn.execute(md.tables["jarvis_ticks"].insert(), [
            {"bot": "old", "symbol": "BTC/USD", "ts": ts, "close": 100.0 + i}
            for i, ts in enumerate(micros)])
        conn.execute(md.tables["jarvis_trades"].insert().values(
            bot="old", symbol="BTC/USD", ts=micros[2], side="buy", price=102.0, units=9.7, fee=2.5))
    return engine


def test_a_schema_1_database_is_migrated_keeping_every_row(store_url):
    import sqlalchemy as sa

    engine = _schema_1(store_url)
    store = Store(store_url)  # adds the columns and the candles table, drops nothing
    assert store.count_ticks("old") == 5
    frame = store.recent_ticks(10, bot="old")
    assert frame["close"].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert frame["open"].tolist() == frame["close"].tolist() and frame["volume"].isna().all()
    assert [t.price for t in store.trades("old")] == [102.0]
    assert store.bot_config("old")["long"] == 20
    bar = Tick("BTC/USD", T0 + pd.Timedelta(minutes=5), 106.0, open=104.0, high=107.0, low=103.0,
               volume=1.5)
    store.write("old", [(bar, None)])
    assert store.recent_ticks(1, bot="old").iloc[0]["high"] == 107.0
    assert store.write_candles("kraken", "BTC/USD", "1h", _bars(3)) == 3
    store.close()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT value FROM jarvis_meta WHERE key='schema'")).scalar_one() == "2"
        columns = {c["name"] for c in sa.inspect(conn).get_columns("jarvis_ticks")}
    assert {"open", "high", "low", "volume", "close", "bot"} <= columns
    engine.dispose()
    again = Store(store_url)  # opening a migrated database again changes nothing
    assert again.count_ticks("old") == 6 and len(again.candles("kraken", "BTC/USD", "1h")) == 3
    again.close()
