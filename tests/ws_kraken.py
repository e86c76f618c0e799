"""A real websocket server on 127.0.0.1 speaking Kraken's websocket v2 protocol from
recorded messages (tests/fixtures/kraken/ws_ohlc_60.jsonl), for ccxt.pro's kraken.

On connect it sends Kraken's ``status`` message; it answers ``subscribe`` (channel
``ohlc`` or ``ticker``) with Kraken's acknowledgement, then a ``snapshot`` (the candles
streamed so far, as Kraken sends its recent candles on every subscription), then the
recorded updates and heartbeats in order, and ``pong`` to ``ping``. On the ``ticker``
channel each recorded candle update becomes Kraken's ticker message at that moment. ``drops``: after how
many sent recorded messages to close the connection (a drop mid-stream; each once).
``missed``: how many recorded messages pass while the client is away after a drop (they
reach the client only through the next snapshot). ``refuse``: how many connection
attempts to reject outright (HTTP 503) before accepting.
When the recording is used up it sends heartbeats until the client goes.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import WSMsgType, web

RECORDING = Path(__file__).parent / "fixtures" / "kraken" / "ws_ohlc_60.jsonl"


def recorded_messages() -> list[dict]:
    return [json.loads(line) for line in RECORDING.read_text().splitlines() if line.strip()]


class KrakenWsServer:
    def __init__(self, messages=None, *, drops=(), refuse: int = 0, pace: float = 0.001,
                 missed: int = 0):
        self.messages = recorded_messages() if messages is None else messages
        self.drops = sorted(drops)
        self.refuse = refuse
        self.missed = missed  # recorded messages that happen while the client is away
        self.pace = pace
        self.pos = 0  # recorded messages sent (across connections)
        self.candles: dict[str, dict] = {}  # interval_begin -> latest candle streamed
        self.connections = 0
        self.refused = 0
        self.subscriptions: list[dict] = []
        self.received: list[dict] = []
        self._runner = None
        self.url = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v2", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v2"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request):
        if self.refused < self.refuse:
            self.refused += 1
            return web.Response(status=503, text="Service Unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        await ws.send_json({"channel": "status", "type": "update", "data": [{
            "api_version": "v2", "connection_id": 1000 + self.connections, "system": "online",
            "version": "2.0.9"}]})
        streaming = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                m = json.loads(msg.data)
                self.received.append(m)
                if m.get("method") == "ping":
                    await ws.send_json({"method": "pong", "req_id": m.get("req_id"),
                                        "time_in": "2020-09-30T12:00:00.000000Z",
                                        "time_out": "2020-09-30T12:00:00.000001Z"})
                elif m.get("method") == "subscribe":
                    params = m.get("params", {})
                    self.subscriptions.append(params)
                    await ws.send_json({"method": "subscribe", "result": {
                        "channel": params.get("channel"), "interval": params.get("interval"),
                        "snapshot": True, "symbol": params.get("symbol", [""])[0]},
                        "success": True, "req_id": m.get("req_id"),
                        "time_in": "2020-09-30T12:00:00.000000Z",
                        "time_out": "2020-09-30T12:00:00.000001Z"})
                    if streaming is None:
                        streaming = asyncio.ensure_future(self._stream(ws, params.get("channel")))
        finally:
            if streaming is not None:
                streaming.cancel()
                try:
                    await streaming
                except (asyncio.CancelledError, ConnectionResetError):
                    pass
        return ws

    async def _stream(self, ws, channel="ohlc") -> None:
        if self.candles and channel == "ohlc":
            await ws.send_json({"channel": "ohlc", "type": "snapshot",
                                "data": list(self.candles.values())})
        while True:
            if self.pos >= len(self.messages):
                await ws.send_json({"channel": "heartbeat"})
                await asyncio.sleep(0.05)
                continue
            if self.drops and self.pos >= self.drops[0]:
                self.drops.pop(0)
                await ws.close(code=1001, message=b"going away")
                for message in self.messages[self.pos:self.pos + self.missed]:
                    self._apply(message)  # the market moves on while nobody listens
                self.pos = min(len(self.messages), self.pos + self.missed)
                return
            message = self.messages[self.pos]
            self.pos += 1
            self._apply(message)
            await ws.send_json(message if channel == "ohlc" else _as_ticker(message))
            await asyncio.sleep(self.pace)

    def _apply(self, message) -> None:
        if message.get("channel") == "ohlc":
            for candle in message["data"]:
                self.candles[candle["interval_begin"]] = candle


def _as_ticker(message: dict) -> dict:
    """The ``ticker`` channel's message at the moment of a recorded ``ohlc`` update (its
    last price is the candle's close so far); heartbeats unchanged."""
    if message.get("channel") != "ohlc":
        return message
    c = message["data"][0]
    return {"channel": "ticker", "type": "update", "data": [{
        "symbol": c["symbol"], "bid": c["close"] - 0.1, "bid_qty": 0.5, "ask": c["close"],
        "ask_qty": 0.7, "last": c["close"], "volume": c["volume"], "vwap": c["vwap"],
        "low": c["low"], "high": c["high"], "change": round(c["close"] - c["open"], 1),
        "change_pct": round(100 * (c["close"] - c["open"]) / c["open"], 2)}]}
