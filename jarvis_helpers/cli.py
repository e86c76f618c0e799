"""The ``jarvis`` command (also ``python -m jarvis_helpers``).

- ``jarvis run``: the bot, headless, until the feed ends, ``--ticks`` are done or Ctrl-C;
  ends with one JSON line: the bot's whole state (all runs), not just this run.
- ``jarvis serve``: the dashboard in a browser, with the same options and defaults as
  ``run`` (both build their bot from ``Settings``).
- ``jarvis backtest``: a strategy over recorded history, stats as text or JSON.
- ``jarvis sweep``: a backtest per combination of a strategy's parameters.
- ``jarvis strategies``: the shipped strategies and their parameters.

Every bot command takes ``--strategy NAME`` or ``--strategy path/to/file.py:ClassName``
and ``--param KEY=VALUE`` (repeatable); ``--short``/``--long`` are the SMA's windows.
Bad arguments exit with status 2 and one line naming the bad value; no traceback.

Subcommands living in their own module join with two lines in ``build_parser`` (the
module's ``add_parser(sub)`` adds its parser and sets ``func``, called with the parsed
arguments and returning the exit status).
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


# -- shared options ----------------------------------------------------------------------------
def add_strategy_args(p, *, money: bool = True) -> None:
    """``--strategy``, ``--param``, ``--short``/``--long`` (and ``--cash``/``--fee``)."""
    p.add_argument("--strategy", default=None, metavar="NAME|FILE.py:CLASS",
                   help="sma (default), ema, rsi, bollinger, or your own class in a file "
                        "(default $JARVIS_STRATEGY, or the stored bot's)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a strategy parameter, e.g. --param period=7 (repeatable; see "
                        "`jarvis strategies`)")
    window = _whole_number(1, what="a whole number of ticks (for example --short 10 --long 20)")
    p.add_argument("--short", type=window, default=None, help="the sma's short window (10)")
    p.add_argument("--long", type=window, default=None, help="the sma's long window (20)")
    if money:
        p.add_argument("--cash", default=None, help="starting cash in quote currency (10000)")
        p.add_argument("--fee", default=None, help="fee rate per fill (0.0026)")


def add_bot_args(p) -> None:
    """The options every command that builds a bot takes (run, serve)."""
    p.add_argument("--feed", default=None,
                   help="replay | replay:BTC/USD | replay:FILE.csv | random:SEED | "
                        "EXCHANGE:BASE/QUOTE[@1h] (default $JARVIS_FEED or replay)")
    p.add_argument("--db", default=None,
                   help="database URL (default $JARVIS_DB or sqlite:///algo_trader_history.sqlite)")
    p.add_argument("--name", default=None,
                   help="bot name: its ticks and ledger in the database (default $JARVIS_NAME or jarvis)")
    p.add_argument("--interval", type=_seconds, default=None,
                   help="seconds between fetches (default $JARVIS_INTERVAL, else 0 for a replay "
                        "with run, 0.2 with serve, 1 for an exchange)")
    add_strategy_args(p)


def _params(args) -> dict:
    from .strategy import parse_params

    params = parse_params(args.param)
    for key in ("short", "long"):
        if getattr(args, key, None) is not None:
            params[key] = getattr(args, key)
    return params


def settings_from(args):
    """The ``Settings`` of parsed bot arguments (the environment fills what they omit)."""
    from .settings import Settings

    return Settings.from_env(
        feed=getattr(args, "feed", None), db=getattr(args, "db", None),
        name=getattr(args, "name", None), interval=getattr(args, "interval", None),
        strategy=args.strategy, params=_params(args), cash=args.cash, fee=args.fee)


# -- the parser ------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="JARVIS: a paper-trading bot you can read.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot headless; ends with a JSON summary line")
    add_bot_args(run)
    run.add_argument("--ticks", type=_whole_number(0), default=None, help="stop after N ticks in this run")
    run.add_argument("--reset", action="store_true",
                     help="delete this bot's stored ticks and trades first (other bots are kept)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--progress", type=_seconds, default=2.0, metavar="S",
                     help="seconds between progress lines on stderr (2)")
    run.set_defaults(func=_run)

    serve = sub.add_parser("serve", help="the live dashboard in a browser (same options as run)")
    add_bot_args(serve)
    serve.add_argument("--port", type=_whole_number(0, 65535, what="a port number (0-65535)"),
                       default=5006, help="port (5006; 0 picks a free one)")
    serve.set_defaults(func=_serve)

    bt = sub.add_parser("backtest", help="backtest a strategy over recorded history")
    bt.add_argument("--data", default="replay:BTC/USD",
                    help="replay:BTC/USD | replay:ETH/USD | a CSV file | candles:EXCHANGE:BASE/QUOTE@1h "
                         "(stored by jarvis download; default replay:BTC/USD)")
    bt.add_argument("--db", default=None, help="the database of candles: specs (default $JARVIS_DB)")
    bt.add_argument("--json", action="store_true", help="print the stats as one JSON line")
    add_strategy_args(bt)
    bt.set_defaults(func=_backtest)

    sw = sub.add_parser("sweep", help="backtest every combination of a strategy's parameters")
    sw.add_argument("--data", default="replay:BTC/USD", help="as for backtest")
    sw.add_argument("--db", default=None, help="the database of candles: specs (default $JARVIS_DB)")
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2|START:STOP:STEP",
                    help="values of one parameter, e.g. --grid short=5,10,15 --grid long=20:60:10 "
                         "(START:STOP:STEP as range(): STOP excluded)")
    sw.add_argument("--metric", default="total_return", help="sort by this figure (total_return)")
    sw.add_argument("--top", type=_whole_number(1), default=10, help="rows to print (10)")
    sw.add_argument("--json", action="store_true", help="one JSON line per combination, best first")
    sw.add_argument("--csv", default=None, metavar="PATH", help="also write the whole table here")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="a Dask scheduler to spread the grid over (default $JARVIS_DASK_SCHEDULER)")
    add_strategy_args(sw)
    sw.set_defaults(func=_sweep)

    st = sub.add_parser("strategies", help="the shipped strategies and their parameters")
    st.add_argument("--json", action="store_true", help="one JSON object")
    st.set_defaults(func=_strategies)

    # -- subcommands of other modules: `from .mod import add_parser as _m` + `_m(sub)` --------
    from .download import add_parser as _download
    _download(sub)
    from .verify import add_parser as _verify
    _verify(sub)
    from .leaderboard import add_parser as _class
    _class(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except JarvisError as exc:
        print(f"{PROG}: error: {_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _line(exc) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- run -----------------------------------------------------------------------------------------
def _run(args) -> int:
    from .store import Store

    settings = settings_from(args)
    settings.check()  # bad input fails here, before the database is opened
    from .feeds import open_feed

    spec = settings.feed
    feed = open_feed(spec, **({"db": settings.db} if spec and spec.startswith("candles:") and settings.db
                              else {}))
    store = Store(settings.db)
    if args.reset:
        # validate what the bot would run first: a bad strategy must not wipe anything
        settings._strategy(None)
        store.reset(settings.name or "jarvis")
    bot = settings.with_(feed=feed).make_bot(store)
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


# -- serve ---------------------------------------------------------------------------------------
def _serve(args) -> int:
    from .app import serve

    settings = settings_from(args)
    settings.check()
    serve(settings=settings, port=args.port)
    return 0


# -- backtest and sweep --------------------------------------------------------------------------
def _data(args):
    from .data import SAMPLES

    if args.data.startswith("candles:"):
        from .data import parse_candles_spec, stored_candles

        frame = stored_candles(args.data, args.db or None)
        frame.attrs["symbol"] = parse_candles_spec(args.data)[1]
        return frame
    return f"replay:{args.data}" if args.data in SAMPLES else args.data


def _money(args) -> dict:
    from .account import DEFAULT_FEE

    settings = settings_from(args)
    return {"cash": settings.cash if settings.cash is not None else 10_000,
            "fee": settings.fee if settings.fee is not None else DEFAULT_FEE,
            "strategy": settings.strategy, "params": settings.params}


def _backtest(args) -> int:
    from .backtest import backtest

    m = _money(args)
    data = _data(args)
    symbol = data.attrs.get("symbol") if hasattr(data, "attrs") else None
    result = backtest(data, m["strategy"], cash=m["cash"], fee=m["fee"], params=m["params"],
                      symbol=symbol)
    print(json.dumps(result.stats) if args.json else result.report())
    return 0


def parse_grid(items) -> dict:
    """``["short=5,10", "long=20:40:10"]`` -> ``{"short": ["5", "10"], "long": [20, 30]}``.

    >>> parse_grid(["short=5,10", "long=20:40:10"])
    {'short': ['5', '10'], 'long': [20, 30]}
    >>> parse_grid(["short"])
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: grid 'short' is not KEY=V1,V2,... or KEY=START:STOP:STEP (for example --grid period=7,14,21)
    """
    from .errors import ConfigError

    grid = {}
    for item in items:
        key, sep, values = str(item).partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"grid {item!r} is not KEY=V1,V2,... or KEY=START:STOP:STEP "
                              "(for example --grid period=7,14,21)")
        if ":" in values:
            parts = values.split(":")
            try:
                numbers = [int(p) for p in parts]
                if len(numbers) not in (2, 3) or (len(numbers) == 3 and numbers[2] == 0):
                    raise ValueError
            except ValueError:
                raise ConfigError(f"grid {item!r}: START:STOP:STEP takes whole numbers, STEP not 0 "
                                  "(for example --grid long=20:60:10)") from None
            grid[key] = list(range(*numbers))
        else:
            grid[key] = [v.strip() for v in values.split(",") if v.strip()]
    return grid


def _sweep(args) -> int:
    from .backtest import sweep
    from .errors import ConfigError, did_you_mean
    from .strategy import load_strategy

    m = _money(args)
    base = load_strategy(m["strategy"], m["params"])
    grid = parse_grid(args.grid) or ({"short": [5, 10, 15, 20], "long": [20, 30, 50, 100]}
                                     if base.name == "sma" and not args.grid else {})
    grid = {k: [base.coerce(k, v) if k in base.params else v for v in vs] for k, vs in grid.items()}
    client = None
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed: pip install distributed") from None
        try:
            client = Client(args.scheduler, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {args.scheduler!r}: {exc}") from None
    try:
        table = sweep(_data(args), base, grid=grid, cash=m["cash"], fee=m["fee"], client=client)
    finally:
        if client is not None:
            client.close()
    params = table.attrs.get("params", [])
    metrics = [c for c in table.columns if c not in params]
    if args.metric not in metrics:
        raise ConfigError(f"metric {args.metric!r} is not a figure of the sweep: choose one of "
                          f"{', '.join(metrics)}." + did_you_mean(args.metric, metrics))
    table = table.sort_values(args.metric, ascending=False, kind="stable", na_position="last")
    if args.csv:
        table.to_csv(args.csv, index=False)
    if args.json:
        for row in table.to_dict("records"):
            print(json.dumps({k: (None if isinstance(v, float) and v != v else v)
                              for k, v in row.items()}, default=str))
        return 0
    shown = params + [args.metric] + [c for c in ("total_return", "sharpe", "max_drawdown", "n_trades")
                                      if c != args.metric]
    print(f"Sweep of {base.name} on {args.data}: {len(table)} combinations, best {args.top} by "
          f"{args.metric}")
    print(table[shown].head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


# -- strategies ------------------------------------------------------------------------------------
def _strategies(args) -> int:
    from .strategy import strategies

    listing = {}
    for name, cls in strategies().items():
        s = cls()
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        listing[name] = {"params": s.params, "warmup": s.warmup,
                         "columns": s.indicator_columns(), "about": " ".join(doc.replace("``", "").split())}
    if args.json:
        print(json.dumps(listing))
        return 0
    for name, info in listing.items():
        params = ", ".join(f"{k}={v}" for k, v in info["params"].items())
        print(f"{name:<10} {params}")
        print(f"{'':<10} {info['about']}")
        print(f"{'':<10} columns: {', '.join(info['columns'])}; warm-up {info['warmup']} bars")
    print("Use: jarvis run --strategy rsi --param period=7 (or --strategy path/to/file.py:MyClass)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
