"""Real ccxt exchanges that answer from recorded responses: ccxt without the network.

``recorded_exchange("kraken")`` returns an instance of a subclass of
``ccxt.async_support.kraken`` (``asynchronous=False``: of plain ``ccxt.kraken``) in which
only ``fetch``, the HTTP call, is replaced. ccxt's own URL building, rate limiter,
JSON parsing, error mapping (``handle_errors``), market loading and ticker parsing all
run for real on Kraken's recorded JSON, shipped in ``jarvis_helpers/data/recorded/``.
Notebook 1 uses it offline; the tests use it with injected faults.

- ``latency``: seconds each answer takes (``await asyncio.sleep`` in the async class,
  ``time.sleep`` in the blocking one), so the recorded exchange behaves like a slow network.
- ``prices``: a sequence of last prices; each ticker answer takes the next one (cycling).
  Without it the recorded ticker is returned as it was recorded.
- ``faults``: ``faults(n, url)`` per request (``n`` counts from 0) returns None (answer
  normally), an exception instance (raised as the transport would raise it) or a
  ``(status, body)`` pair (that HTTP answer, e.g. an HTML error page).

>>> import asyncio
>>> async def last_price():
...     exchange = recorded_exchange("kraken")
...     try:
...         return (await exchange.fetch_ticker("BTC/USD"))["last"]
...     finally:
...         await exchange.close()
>>> asyncio.run(last_price())
10776.1
>>> recorded_exchange("krakn")
Traceback (most recent call last):
...
jarvis_helpers.errors.ConfigError: no recorded answers for exchange 'krakn': recorded exchanges: kraken. Did you mean: kraken?
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import cache
from importlib.resources import files
from urllib.parse import parse_qs, urlparse

from .errors import ConfigError, did_you_mean

__all__ = ["recorded_exchange", "recorded_exchanges", "recorded_class", "recording"]


def _folder():
    return files("jarvis_helpers") / "data" / "recorded"


def recorded_exchanges() -> list[str]:
    """The exchange ids with recorded answers.

    >>> "kraken" in recorded_exchanges()
    True
    """
    return sorted(p.name for p in _folder().iterdir() if p.is_dir() and not p.name.startswith("_"))


def recording(exchange_id: str, name: str) -> str | None:
    """The recorded answer ``name`` (e.g. ``"Ticker_XXBTZUSD"``) of an exchange, or None.

    >>> json.loads(recording("kraken", "Ticker_XXBTZUSD"))["result"]["XXBTZUSD"]["c"][0]
    '10776.10000'
    """
    path = _folder() / exchange_id / f"{name}.json"
    return path.read_text() if path.is_file() else None


class _Recorded:
    """The transport shared by the async and the blocking classes (see module docstring)."""

    recorded_id = "kraken"

    def _setup_recording(self, prices, faults, latency):
        if latency < 0:
            raise ConfigError(f"latency {latency!r} is negative: give seconds >= 0 (e.g. 0.2)")
        self.prices = None if prices is None else [float(p) for p in prices]
        if self.prices == []:
            raise ConfigError("prices is empty: give at least one price, or None for the recording")
        self.faults = faults
        self.latency = float(latency)
        self.requests: list[tuple[float, str]] = []  # (monotonic time, url) of every request
        self.ticker_requests = 0
        self.closed = False

    def _respond(self, url, method, headers, body):
        n = len(self.requests)
        self.requests.append((time.monotonic(), url))
        fault = self.faults(n, url) if self.faults is not None else None
        if isinstance(fault, BaseException):
            raise fault
        status, text = fault if fault is not None else (200, self.answer(url))
        json_response = self.parse_json(text)
        self.handle_errors(status, "", url, method, {}, text, json_response, headers, body)
        self.handle_http_status_code(status, "", url, method, text)
        return json_response if json_response is not None else text

    def answer(self, url: str) -> str:
        """The recorded body for ``url``: ``<Endpoint>_<pair>.json``, else ``<Endpoint>.json``.

        Subclasses may override it to answer more endpoints.
        """
        parsed = urlparse(url)
        endpoint = parsed.path.rsplit("/", 1)[-1]
        pair = parse_qs(parsed.query).get("pair", [""])[0]
        text = recording(self.recorded_id, f"{endpoint}_{pair}") if pair else None
        if text is None:
            text = recording(self.recorded_id, endpoint)
        if text is None and pair:
            text = recording(self.recorded_id, f"{endpoint}_unknown_pair")
        if text is None:
            return json.dumps({"error": [f"EGeneral:Unknown method {endpoint}"]})
        if endpoint == "Ticker" and self.prices is not None and pair:
            answer = json.loads(text)
            for ticker in answer.get("result", {}).values():
                price = self.prices[self.ticker_requests % len(self.prices)]
                ticker["c"][0] = f"{price:.5f}"
            self.ticker_requests += 1
            text = json.dumps(answer)
        return text


@cache
def recorded_class(exchange_id: str = "kraken", asynchronous: bool = True) -> type:
    """The recorded subclass of ``ccxt.async_support.<id>`` (or ``ccxt.<id>``).

    >>> import ccxt.async_support
    >>> issubclass(recorded_class("kraken"), ccxt.async_support.kraken)
    True
    """
    available = recorded_exchanges()
    if exchange_id not in available:
        raise ConfigError(
            f"no recorded answers for exchange {exchange_id!r}: recorded exchanges: "
            f"{', '.join(available)}." + did_you_mean(str(exchange_id), available))
    if asynchronous:
        import ccxt.async_support as ccxt_module
    else:
        import ccxt as ccxt_module
    base = getattr(ccxt_module, exchange_id)

    def __init__(self, config=None, *, prices=None, faults=None, latency=0.0):
        base.__init__(self, {"enableRateLimit": True, **(config or {})})
        self._setup_recording(prices, faults, latency)

    if asynchronous:
        async def fetch(self, url, method="GET", headers=None, body=None):
            self.open(True)  # as ccxt does: a closed exchange refuses to fetch
            if self.latency:
                await asyncio.sleep(self.latency)
            return self._respond(url, method, headers, body)

        async def close(self, clean_instance_data=False):
            self.closed = True
            await base.close(self, clean_instance_data)
    else:
        def fetch(self, url, method="GET", headers=None, body=None):
            if self.latency:
                time.sleep(self.latency)  # blocking, like the real blocking client
            return self._respond(url, method, headers, body)

        def close(self, clean_instance_data=False):
            self.closed = True
            base.close(self, clean_instance_data)

    name = f"Recorded{exchange_id.capitalize()}"
    return type(name, (_Recorded, base), {
        "__init__": __init__, "fetch": fetch, "close": close, "recorded_id": exchange_id,
        "__doc__": f"ccxt's {exchange_id} answering from recorded responses (jarvis_helpers.recorded).",
        "__module__": __name__,
    })


def recorded_exchange(exchange_id: str = "kraken", config: dict | None = None, *,
                      asynchronous: bool = True, prices=None, faults=None, latency: float = 0.0):
    """A real ccxt exchange object whose HTTP answers come from recordings (no network).

    Close the async one as any ccxt async exchange: ``await exchange.close()``.

    >>> exchange = recorded_exchange("kraken", asynchronous=False, prices=[100.0, 101.5])
    >>> [exchange.fetch_ticker("BTC/USD")["last"] for _ in range(3)]
    [100.0, 101.5, 100.0]
    """
    return recorded_class(exchange_id, asynchronous)(config, prices=prices, faults=faults,
                                                     latency=latency)

