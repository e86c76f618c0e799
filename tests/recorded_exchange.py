"""A real ``ccxt.async_support.kraken`` that answers from recorded Kraken responses.

Only ``fetch`` (the HTTP call) is replaced: ccxt's own URL building, rate limiter,
JSON parsing, error mapping (``handle_errors``) and ticker parsing all run for real.
Faults are injected per request through ``faults``: a callable ``(n, url) -> None``
(answer normally), an exception instance (raised as the transport would), or a
``(status, body)`` pair (an HTTP answer with that body, e.g. an HTML error page).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import ccxt.async_support as ccxt_async

from jarvis_helpers.data import load_sample

FIXTURES = Path(__file__).parent / "fixtures" / "kraken"


def _load(name: str) -> str:
    return (FIXTURES / name).read_text()


class RecordedKraken(ccxt_async.kraken):
    """Kraken with its transport replaced by recorded answers (see module docstring)."""

    def __init__(self, config=None, *, prices=None, faults=None):
        super().__init__({"enableRateLimit": True, **(config or {})})
        closes = load_sample("BTC/USD")["close"].to_numpy() if prices is None else prices
        self.prices = [float(p) for p in closes]
        self.faults = faults
        self.requests: list[tuple[float, str]] = []  # (monotonic time, url) of every request
        self.ticker_requests = 0
        self.closed = False
        self._template = json.loads(_load("Ticker_XXBTZUSD.json"))

    async def fetch(self, url, method="GET", headers=None, body=None):
        n = len(self.requests)
        self.requests.append((time.monotonic(), url))
        fault = self.faults(n, url) if self.faults is not None else None
        if isinstance(fault, BaseException):
            raise fault
        if fault is not None:
            status, text = fault
        else:
            status, text = 200, self._answer(url)
        json_response = self.parse_json(text)
        self.handle_errors(status, "", url, method, {}, text, json_response, headers, body)
        self.handle_http_status_code(status, "", url, method, text)
        return json_response if json_response is not None else text

    def _answer(self, url: str) -> str:
        parsed = urlparse(url)
        endpoint = parsed.path.rsplit("/", 1)[-1]
        if endpoint in ("Assets", "AssetPairs"):
            return _load(f"{endpoint}.json")
        if endpoint == "Ticker":
            pair = parse_qs(parsed.query).get("pair", [""])[0]
            if pair != "XXBTZUSD":
                return _load("Ticker_unknown_pair.json")
            answer = json.loads(json.dumps(self._template))
            price = self.prices[self.ticker_requests % len(self.prices)]
            self.ticker_requests += 1
            answer["result"]["XXBTZUSD"]["c"][0] = f"{price:.5f}"
            return json.dumps(answer)
        return json.dumps({"error": [f"EGeneral:Unknown method {endpoint}"]})

    async def close(self):
        self.closed = True
        await super().close()
