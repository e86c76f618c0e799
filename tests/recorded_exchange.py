"""A real ``ccxt.async_support.kraken`` that answers from recorded Kraken responses.

Built on ``jarvis_helpers.recorded`` (only ``fetch``, the HTTP call, is replaced: ccxt's
URL building, rate limiter, JSON parsing, error mapping and parsing run for real). This
test version adds what the candle tests need, from ``tests/fixtures/kraken/``
(see ``make_candle_fixtures.py`` there):

- ``OHLC`` (interval 60): the recorded answer, cut at the exchange's ``clock`` (epoch
  ms, default the recording's 2020-09-30 23:30 UTC; settable between 12:00 and 23:30):
  the closed hours before it, then the still-forming hour built from the recorded
  trades so far; at most 720 rows (``ohlc_rows``), Kraken's ``since`` (rows after it)
  and ``last``.
- ``Trades``: the recorded trades up to ``clock``, 1000 per answer after ``since``
  (seconds, or the nanosecond id Kraken's ``last`` gives), with Kraken's ``last``.
- ``Ticker``: the recorded ticker, its last price taken in turn from ``prices``
  (default: the shipped sample's closes).

Faults are injected per request through ``faults``: a callable ``(n, url)`` returning None
(answer normally), an exception instance (raised as the transport would), or a
``(status, body)`` pair (an HTTP answer with that body, e.g. an HTML error page).
``on_request(n, url)`` is called before every answer (a test may move ``clock`` there).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from jarvis_helpers.data import load_sample
from jarvis_helpers.recorded import recorded_class

FIXTURES = Path(__file__).parent / "fixtures" / "kraken"
PAIR = "XXBTZUSD"
RECORDED_AT_MS = 1601508600_000  # 2020-09-30 23:30 UTC
TRADES_FROM_MS = 1601467200_000  # 2020-09-30 12:00 UTC: the first recorded trade's hour
HOUR_MS = 3_600_000


def _load(name: str) -> str:
    return (FIXTURES / name).read_text()


@cache
def recorded_ohlc() -> dict:
    """The recorded OHLC answer (interval 60), parsed once."""
    return json.loads(_load(f"OHLC_{PAIR}_60.json"))


@cache
def recorded_trade_pages() -> tuple[dict, ...]:
    """The recorded Trades answers in order, parsed once."""
    pages = sorted(FIXTURES.glob(f"Trades_{PAIR}_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return tuple(json.loads(p.read_text()) for p in pages)


@cache
def recorded_trades() -> tuple[tuple, ...]:
    """Every recorded trade, oldest first (Kraken's rows, each a tuple)."""
    return tuple(tuple(t) for page in recorded_trade_pages() for t in page["result"][PAIR])


def _trade_ns(trade) -> int:
    return int(round(trade[2] * 10_000)) * 100_000


class RecordedKraken(recorded_class("kraken")):
    """Kraken with its transport replaced by recorded answers (see module docstring)."""

    def __init__(self, config=None, *, prices=None, faults=None, latency=0.0, clock=None,
                 on_request=None, ohlc_rows=720, ohlc_page=None):
        if prices is None:
            prices = load_sample("BTC/USD")["close"].to_numpy()
        super().__init__(config, prices=prices, faults=faults, latency=latency)
        self.clock = RECORDED_AT_MS if clock is None else int(clock)
        self.on_request = on_request
        self.ohlc_rows = ohlc_rows  # Kraken answers its latest 720 candles; a test may shrink it
        self.ohlc_page = ohlc_page  # answer at most this many rows after `since` (an exchange that pages)

    def milliseconds(self) -> int:
        """The exchange's time is the recording's clock (ccxt asks it, so do the feeds)."""
        return self.clock

    def answer(self, url: str) -> str:
        if self.on_request is not None:
            self.on_request(len(self.requests) - 1, url)
        parsed = urlparse(url)
        endpoint = parsed.path.rsplit("/", 1)[-1]
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
        if endpoint == "OHLC" and query.get("pair") == PAIR:
            return json.dumps(self._ohlc(query))
        if endpoint == "Trades" and query.get("pair") == PAIR:
            return json.dumps(self._trades(query))
        return super().answer(url)

    # -- answers ---------------------------------------------------------------------
    def _check_clock(self) -> None:
        if not TRADES_FROM_MS <= self.clock <= RECORDED_AT_MS:
            raise AssertionError(f"clock {self.clock} outside the recording (12:00..23:30 UTC)")

    def _ohlc(self, query) -> dict:
        if query.get("interval", "1") != "60":
            return {"error": ["EGeneral:Invalid arguments:interval not recorded"]}
        self._check_clock()
        recorded = recorded_ohlc()["result"][PAIR]
        forming_open = self.clock // HOUR_MS * HOUR_MS // 1000
        rows = [r for r in recorded if r[0] < forming_open]
        if forming_open == recorded[-1][0] and self.clock == RECORDED_AT_MS:
            rows.append(recorded[-1])
        else:
            rows.append(self._forming_row(forming_open, rows[-1]))
        last = rows[-2][0]
        rows = rows[-self.ohlc_rows:]
        if "since" in query:
            rows = [r for r in rows if r[0] > int(query["since"])]
            if self.ohlc_page:
                rows = rows[:self.ohlc_page]
        return {"error": [], "result": {PAIR: rows, "last": last}}

    def _forming_row(self, open_s: int, previous) -> list:
        """The still-forming candle: the hour's recorded trades before the clock."""
        trades = [t for t in recorded_trades()
                  if open_s * 1000 <= t[2] * 1000 < self.clock]
        if not trades:  # no trade yet this hour: Kraken shows a flat row at the last close
            return [open_s, previous[4], previous[4], previous[4], previous[4], "0.0",
                    "0.00000000", 0]
        prices = [float(t[0]) for t in trades]
        volume = sum(float(t[1]) for t in trades)
        vwap = sum(float(t[0]) * float(t[1]) for t in trades) / volume
        return [open_s, f"{prices[0]:.1f}", f"{max(prices):.1f}", f"{min(prices):.1f}",
                f"{prices[-1]:.1f}", f"{vwap:.1f}", f"{volume:.8f}", len(trades)]

    def _trades(self, query) -> dict:
        self._check_clock()
        since = int(query.get("since", "0"))
        count = min(int(query.get("count", "1000")), 1000)
        if since > 10**12:  # a nanosecond id (Kraken's `last`): strictly after it
            after = [t for t in recorded_trades() if _trade_ns(t) > since]
        else:  # seconds
            after = [t for t in recorded_trades() if t[2] >= since]
        page = [list(t) for t in after if t[2] * 1000 < self.clock]
        page = page[:count] if "since" in query else page[-count:]  # no since: the latest
        last = str(_trade_ns(page[-1])) if page else str(since)
        return {"error": [], "result": {PAIR: page, "last": last}}
