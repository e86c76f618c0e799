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
