"""The ``jarvis`` command (also ``python -m jarvis_helpers``).

- ``jarvis run``: the bot, headless, until the feed ends, ``--ticks`` are done or Ctrl-C;
  ends with one JSON line: the bot's whole state (all runs), not just this run.
- ``jarvis backtest``: the strategy over recorded history, stats as text or JSON.
- ``jarvis serve``: the dashboard in a browser.

Bad arguments exit with status 2 and one line naming the bad value; no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time

from .errors import JarvisError

PROG = "jarvis"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        self.exit(2, f"{PROG}: error: {message}\n")


def _whole_number(low: int, high: int | None = None, *, what: str = "a whole number"):
    """An argparse type: a whole number from ``low`` (up to ``high``); errors name the text.

    >>> _whole_number(1, what="a whole number of ticks")("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '0' must be at least 1
    >>> _whole_number(0, 65535, what="a port number (0-65535)")("http")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'http' is not a port number (0-65535)
    """
    rule = f"at least {low}" if high is None else f"from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} must be {rule}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .account import DEFAULT_FEE

    parser = _Parser(prog=PROG, description="JARVIS: a paper-trading bot you can read.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,backtest,serve}")

    def strategy_args(p):
        p.add_argument("--cash", default="10000", help="starting cash in quote currency (10000)")
        p.add_argument("--fee", default=str(DEFAULT_FEE), help=f"fee rate per fill ({DEFAULT_FEE})")
        window = _whole_number(1, what="a whole number of ticks (for example --short 10 --long 20)")
        p.add_argument("--short", type=window, default=10, help="short SMA window (10)")
        p.add_argument("--long", type=window, default=20, help="long SMA window (20)")

    run = sub.add_parser("run", help="run the bot headless; ends with a JSON summary line")
    run.add_argument("--feed", default=None,
                     help="replay | replay:BTC/USD | replay:FILE.csv | random:SEED | EXCHANGE:BASE/QUOTE "
                          "(default $JARVIS_FEED or replay)")
    run.add_argument("--db", default=None, help="database URL (default sqlite:///algo_trader_history.sqlite)")
    run.add_argument("--ticks", type=_whole_number(0), default=None, help="stop after N ticks in this run")
    run.add_argument("--interval", type=_seconds, default=None,
                     help="seconds between fetches (default 0 for replay/random, 1 for an exchange)")
    run.add_argument("--name", default="jarvis", help="bot name: its ticks and ledger in the database")
    run.add_argument("--reset", action="store_true",
                     help="delete this bot's stored ticks and trades first (other bots are kept)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--progress", type=_seconds, default=2.0, metavar="S",
                     help="seconds between progress lines on stderr (2)")
    strategy_args(run)

    bt = sub.add_parser("backtest", help="backtest the SMA crossover over recorded history")
    bt.add_argument("--data", default="replay:BTC/USD",
                    help="replay:BTC/USD | replay:ETH/USD | a CSV file (default replay:BTC/USD)")
    bt.add_argument("--json", action="store_true", help="print the stats as one JSON line")
    strategy_args(bt)

    serve = sub.add_parser("serve", help="the live dashboard in a browser")
    serve.add_argument("--feed", default=None, help="feed spec (default $JARVIS_FEED or replay)")
    serve.add_argument("--db", default=None, help="database URL")
    serve.add_argument("--port", type=_whole_number(0, 65535, what="a port number (0-65535)"),
                       default=5006, help="port (5006; 0 picks a free one)")
    serve.add_argument("--interval", type=_seconds, default=None, help="seconds between fetches")
    serve.add_argument("--name", default="jarvis", help="bot name")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "backtest":
            return _backtest(args)
        return _serve(args)
    except JarvisError as exc:
        print(f"{PROG}: error: {_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _line(exc) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _default_interval(feed) -> float:
    return 0.0 if feed.durable else 1.0


def _run(args) -> int:
    from .account import check_cash, check_fee
    from .bot import Bot
    from .feeds import open_feed
    from .signals import check_windows
    from .store import Store, check_bot_name

    # Validate everything before the database is opened: bad input changes nothing.
    check_bot_name(args.name)
    check_cash(args.cash)
    check_fee(args.fee)
    check_windows(args.short, args.long)
    feed = open_feed(args.feed)
    store = Store(args.db)
    interval = _default_interval(feed) if args.interval is None else args.interval
    bot = Bot(feed, store, name=args.name, cash=args.cash, fee=args.fee, short=args.short,
              long=args.long, interval=interval)
    if args.reset:
        store.reset(args.name)
    return asyncio.run(_run_async(bot, args))


async def _run_async(bot, args) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(bot.run(max_ticks=args.ticks))
    stopping = []

    def on_signal():
        stopping.append(True)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Windows
            pass
    progress = None if args.quiet else asyncio.ensure_future(_progress(bot, args.progress))
    status = 0
    try:
        await task
    except asyncio.CancelledError:
        if not stopping:
            raise
    except JarvisError:
        raise
    except Exception as exc:
        print(f"{PROG}: error: {_line(exc)} (status {bot.status})", file=sys.stderr)
        status = 1
    finally:
        if progress is not None:
            progress.cancel()
        await bot.stop()
    print(json.dumps(bot.summary()), flush=True)
    return status


async def _progress(bot, every: float = 2.0) -> None:
    started = time.monotonic()
    while True:
        await asyncio.sleep(max(every, 0.01))
        rate = bot.ticks_this_run / max(1e-9, time.monotonic() - started)
        print(f"{PROG}: {bot.status_line()} | {rate:,.0f} ticks/s", file=sys.stderr, flush=True)


def _backtest(args) -> int:
    from .backtest import backtest
    from .data import SAMPLES

    data = f"replay:{args.data}" if args.data in SAMPLES else args.data
    result = backtest(data, short=args.short, long=args.long, cash=args.cash, fee=args.fee)
    print(json.dumps(result.stats) if args.json else result.report())
    return 0


def _serve(args) -> int:
    from .app import serve

    serve(feed=args.feed, db=args.db, port=args.port, interval=args.interval, name=args.name)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
