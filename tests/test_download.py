"""History into the Store: what ccxt parses is what is stored, resumable, never the forming
candle; Kraken's older history built from its trades; Kraken's OHLCVT files imported.

A real ``ccxt.async_support.kraken`` answers from recorded bodies (tests/fixtures/kraken).
"""

import json

import ccxt
import pandas as pd
import pytest

from jarvis_helpers import Store
from jarvis_helpers.data import read_prices
from jarvis_helpers.download import DownloadError, candles_from_trades, download, import_csv
from jarvis_helpers.errors import ConfigError
from recorded_exchange import FIXTURES, recorded_trade_pages

FAST = {"rateLimit": 1}
OHLC_BODY = json.loads((FIXTURES / "OHLC_XXBTZUSD_60.json").read_text())
NOON = pd.Timestamp("2020-09-30 12:00", tz="UTC")
FORMING = pd.Timestamp("2020-09-30 23:00", tz="UTC")
LAST_CLOSED = pd.Timestamp("2020-09-30 22:00", tz="UTC")


def parsed_ohlc():
    """What ccxt itself parses from the recorded OHLC body, as a candles frame."""
    exchange = ccxt.kraken()
    rows = exchange.parse_ohlcvs(OHLC_BODY["result"]["XXBTZUSD"], None, "1h")
    frame = pd.DataFrame([r[1:] for r in rows], columns=["open", "high", "low", "close", "volume"])
    frame.index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], unit="ms", utc=True),
                                   name="timestamp").as_unit("ns")
    return frame


def stored(store):
    return store.candles("kraken", "BTC/USD", "1h")


def test_stored_candles_equal_what_ccxt_parses_and_the_forming_one_is_not_stored(recorded_kraken, tmp_path):
    store = Store(tmp_path / "h.sqlite")
    added = download(recorded_kraken(config=FAST), "BTC/USD", "1h", store=store, progress=False)
    expected = parsed_ohlc()
    assert expected.index[-1] == FORMING
    assert added == 719
    pd.testing.assert_frame_equal(stored(store), expected.iloc[:-1])
    assert FORMING not in stored(store).index
    # a second run finds nothing new: the forming hour is still forming
    assert download(recorded_kraken(config=FAST), "BTC/USD", "1h", store=store, progress=False) == 0
    store.close()


def test_the_forming_candle_is_stored_once_it_has_closed(recorded_kraken, tmp_path):
    store = Store(tmp_path / "h.sqlite")
    early = recorded_kraken(config=FAST, clock=int(pd.Timestamp("2020-09-30 20:40Z").value // 10**6))
    assert download(early, "BTC/USD", "1h", store=store, progress=False) == 716  # recorded before 20:00
    assert stored(store).index[-1] == pd.Timestamp("2020-09-30 19:00", tz="UTC")
    # 20:00 was forming then (a partial row); now it is closed, and stored as Kraken's final row
    assert download(recorded_kraken(config=FAST), "BTC/USD", "1h", store=store, progress=False) == 3
    pd.testing.assert_frame_equal(stored(store).iloc[-3:], parsed_ohlc().iloc[-4:-1])
    store.close()


def test_candles_built_from_trades_equal_krakens_own_rows(recorded_kraken, tmp_path):
    store = Store(tmp_path / "t.sqlite")
    exchange = recorded_kraken(config=FAST)
    added = download(exchange, "BTC/USD", "1h", since=NOON, store=store, progress=False,
                     source="trades")
    asked = [u.split("since=")[1] for _, u in exchange.requests if "Trades" in u]
    # page by page as Kraken pages (each next `since` is the previous page's `last`), and
    # no further than needed: the 6th page already reaches the forming 23:00 hour
    assert asked == [str(NOON.value // 10**9)] + [p["result"]["last"] for p in recorded_trade_pages()[:5]]
    assert added == 11  # 12:00 .. 22:00; 23:00 is not over
    pd.testing.assert_frame_equal(stored(store), parsed_ohlc().loc[NOON:LAST_CLOSED])
    store.close()


def test_older_than_the_ohlc_window_comes_from_trades_and_the_user_is_told(recorded_kraken, tmp_path, capsys):
    store = Store(tmp_path / "auto.sqlite")
    # Kraken keeps 720 candles; here its window is shrunk to 6 rows (18:00..23:00)
    exchange = recorded_kraken(config=FAST, ohlc_rows=6)
    added = download(exchange, "BTC/USD", "1h", since="2020-09-30 12:00", store=store, progress=True)
    err = capsys.readouterr().err
    assert "only returns its latest 720 candles" in err and "built from Kraken's trades" in err
    urls = [u for _, u in exchange.requests]
    told_before = err.index("built from Kraken's trades")
    assert told_before >= 0 and any("Trades" in u for u in urls)
    assert added == 11 and "rows" in err and "2020-09-30 23:00" in err  # rows and the range
    pd.testing.assert_frame_equal(stored(store), parsed_ohlc().loc[NOON:LAST_CLOSED])
    store.close()


def _kill_on(page, kind="Trades"):
    seen = {"n": 0}

    def faults(n, url):
        if kind in url:
            seen["n"] += 1
            if seen["n"] == page:
                return RuntimeError(f"killed on {kind} page {page}")
        return None
    return faults


@pytest.mark.parametrize("kind,page", [("Trades", 1), ("Trades", 2), ("Trades", 3), ("OHLC", 2)])
def test_a_download_killed_midway_and_resumed_equals_an_uninterrupted_one(kind, page, recorded_kraken, store_url, tmp_path):
    whole = Store(tmp_path / "whole.sqlite")
    download(recorded_kraken(config=FAST, ohlc_rows=6), "BTC/USD", "1h", since=NOON, store=whole,
             progress=False)
    store = Store(store_url)
    with pytest.raises(RuntimeError, match="killed"):
        download(recorded_kraken(config=FAST, ohlc_rows=6, faults=_kill_on(page, kind)), "BTC/USD", "1h",
                 since=NOON, store=store, progress=False)
    partial = stored(store)
    assert len(partial) < 11 and partial.index.is_unique
    pd.testing.assert_frame_equal(partial, stored(whole).iloc[:len(partial)])  # only complete hours
    resumed = recorded_kraken(config=FAST, ohlc_rows=6)
    added = download(resumed, "BTC/USD", "1h", since=NOON, store=store, progress=False)
    assert added == 11 - len(partial)
    pd.testing.assert_frame_equal(stored(store), stored(whole))
    if len(partial) and kind == "Trades":  # the resumed run asked from after the last stored candle, not from noon
        first = next(u for _, u in resumed.requests if "Trades" in u)
        since = int(first.split("since=")[1].split("&")[0])
        assert since == (partial.index[-1] + pd.Timedelta(hours=1)).value // 10**9
    store.close()
    whole.close()


def test_network_errors_and_rate_limits_are_retried_with_backoff(recorded_kraken, tmp_path):
    failing = {3: ccxt.RequestTimeout("kraken GET Trades timed out"),
               4: ccxt.RateLimitExceeded("kraken {\"error\":[\"EAPI:Rate limit exceeded\"]}"),
               6: ccxt.NetworkError("kraken connection reset by peer")}
    exchange = recorded_kraken(config=FAST, ohlc_rows=6, faults=lambda n, url: failing.get(n))
    store = Store(tmp_path / "r.sqlite")
    added = download(exchange, "BTC/USD", "1h", since=NOON, store=store, progress=False,
                     backoff=(0.001, 0.004))
    assert added == 11
    pd.testing.assert_frame_equal(stored(store), parsed_ohlc().loc[NOON:LAST_CLOSED])
    store.close()


def test_an_exchange_error_stops_with_a_clear_message_and_keeps_what_was_stored(recorded_kraken, tmp_path):
    def faults(n, url):
        if "Trades" in url and "since=" in url and n > 4:
            return 200, json.dumps({"error": ["EGeneral:Invalid arguments"]})
        return None
    store = Store(tmp_path / "e.sqlite")
    with pytest.raises(DownloadError, match=r"kraken refused Trades for BTC/USD .*Invalid arguments.*"
                                            r"run the same download again to continue"):
        download(recorded_kraken(config=FAST, ohlc_rows=6, faults=faults), "BTC/USD", "1h",
                 since=NOON, store=store, progress=False, backoff=(0.001, 0.001))
    kept = stored(store)
    assert 0 < len(kept) < 11
    with pytest.raises(DownloadError, match="kept failing .*after 2 retries"):
        download(recorded_kraken(config=FAST, faults=lambda n, u: ccxt.NetworkError("down")),
                 "BTC/USD", "1h", store=store, progress=False, backoff=(0.001, 0.001), retries=2)
    pd.testing.assert_frame_equal(stored(store), kept)
    store.close()


def test_requests_stay_within_the_rate_limit(recorded_kraken, tmp_path):
    exchange = recorded_kraken(config={"rateLimit": 40})
    store = Store(tmp_path / "rl.sqlite")
    download(exchange, "BTC/USD", "1h", since=NOON, store=store, progress=False, source="trades")
    times = [t for t, _ in exchange.requests]
    # ccxt's limiter spaces them: n requests take at least (n - 1) intervals (a lower bound)
    assert times[-1] - times[0] >= (len(times) - 1) * 0.040 * 0.9
    store.close()


def test_bad_arguments_are_named(recorded_kraken, tmp_path):
    store = Store(tmp_path / "b.sqlite")
    with pytest.raises(ConfigError, match="bad timeframe 'tick'"):
        download(recorded_kraken(config=FAST), "BTC/USD", "tick", store=store, progress=False)
    with pytest.raises(ConfigError, match="has no market 'BTC/USDT'"):
        download(recorded_kraken(config=FAST), "BTC/USDT", "1h", store=store, progress=False)
    with pytest.raises(ConfigError, match="until .* is before since"):
        download(recorded_kraken(config=FAST), "BTC/USD", "1h", since="2024-02-01",
                 until="2024-01-01", store=store, progress=False)
    store.close()


def test_candles_from_trades_keep_gaps():
    h = 3_600_000
    trades = [{"timestamp": 5, "price": 2.0, "amount": 0.1},
              {"timestamp": 3 * h + 1, "price": 3.0, "amount": 0.2}]
    frame = candles_from_trades(trades, "1h")
    assert list(frame.index.asi8 // 10**6) == [0, 3 * h]
    assert candles_from_trades([], "1h").empty


# -- Kraken's OHLCVT files --------------------------------------------------------------

def _kraken_csv(path, rows=500):
    sample = read_prices(FIXTURES.parent.parent.parent / "jarvis_helpers" / "data" / "XBTUSD_60.csv.gz")
    part = sample.iloc[:rows]
    with open(path, "w") as fh:
        for ts, r in part.iterrows():
            fh.write(f"{ts.value // 10**9},{r.open},{r.high},{r.low},{r.close},{r.volume},7\n")
    return part


def test_importing_a_kraken_ohlcvt_file_in_chunks(store_url, tmp_path):
    path = tmp_path / "XBTUSD_60.csv"
    expected = _kraken_csv(path)
    store = Store(store_url)
    assert import_csv(path, store, chunk=64) == 500
    assert import_csv(path, store, chunk=64) == 0  # the same file again: nothing new
    pd.testing.assert_frame_equal(stored(store), expected, check_freq=False)
    store.close()


def test_a_file_that_is_not_ohlcvt_is_refused(tmp_path):
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text("timestamp,close\n2020-01-01,7200\n")
    store = Store(tmp_path / "x.sqlite")
    with pytest.raises(ConfigError, match="not a Kraken OHLCVT file"):
        import_csv(path, store)
    with pytest.raises(ConfigError, match="does not exist"):
        import_csv(tmp_path / "nope.csv", store)
    odd = tmp_path / "prices.csv"
    odd.write_text("1577836800,1,1,1,1,1,1\n")
    with pytest.raises(ConfigError, match="bad symbol"):
        import_csv(odd, store)  # the name says nothing: give symbol= and timeframe=
    assert import_csv(odd, store, symbol="ETH/USD", timeframe="1d") == 1
    store.close()


def test_ctrl_c_midway_then_resume_equals_an_uninterrupted_one(recorded_kraken, tmp_path):
    whole = Store(tmp_path / "whole.sqlite")
    download(recorded_kraken(config=FAST, ohlc_rows=6), "BTC/USD", "1h", since=NOON, store=whole,
             progress=False)
    store = Store(tmp_path / "interrupted.sqlite")
    seen = {"n": 0}

    def ctrl_c(n, url):
        if "Trades" in url:
            seen["n"] += 1
            if seen["n"] == 3:
                return KeyboardInterrupt()
        return None

    exchange = recorded_kraken(config=FAST, ohlc_rows=6, faults=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        download(exchange, "BTC/USD", "1h", since=NOON, store=store, progress=False)
    assert exchange.closed  # the connections were released on the way out
    partial = stored(store)
    assert 0 < len(partial) < 11
    download(recorded_kraken(config=FAST, ohlc_rows=6), "BTC/USD", "1h", since=NOON, store=store,
             progress=False)
    pd.testing.assert_frame_equal(stored(store), stored(whole))
    store.close()
    whole.close()


@pytest.mark.parametrize("kill_on", [None, 4])
def test_candle_pages_follow_each_other_and_resume(kill_on, recorded_kraken, tmp_path):
    """An exchange that answers 100 candles a request: page after page from `since`, each
    committed; killed on page 4 and resumed, the same 719 candles as one uninterrupted run."""
    store = Store(tmp_path / "pages.sqlite")
    since = "2020-09-01 00:00"
    if kill_on:
        with pytest.raises(RuntimeError, match="killed"):
            download(recorded_kraken(config=FAST, ohlc_page=100, faults=_kill_on(kill_on, "OHLC")),
                     "BTC/USD", "1h", since=since, store=store, progress=False, source="ohlcv")
        assert 0 < len(stored(store)) < 719
    exchange = recorded_kraken(config=FAST, ohlc_page=100)
    download(exchange, "BTC/USD", "1h", since=since, store=store, progress=False, source="ohlcv")
    pd.testing.assert_frame_equal(stored(store), parsed_ohlc().iloc[:-1])
    asked = [int(u.split("since=")[1].split("&")[0]) for _, u in exchange.requests
             if "OHLC" in u and "since=" in u]
    if kill_on is None:
        # Kraken's last row of an answer counts as forming, so each page gives 99 new
        # candles and the next one starts at the row held back: 8 pages, no gap, no overlap
        assert len(asked) == 8 and asked == sorted(set(asked))
    store.close()
