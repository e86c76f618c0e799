"""The served dashboard: ``jarvis serve`` or ``panel serve jarvis_helpers/app.py``.

ONE bot is shared by every browser session (a second tab shows the same bot; it never
starts a second loop nor wipes anything). Each session gets its own Dashboard attached to
that bot, with Panel Start / Stop buttons that only call ``bot.start()`` / ``bot.stop()``.
The bot is created on first use, never at import, and stopped (its pending ticks
committed) when the server shuts down.

Under ``panel serve`` the settings come from the environment (``Settings.from_env``:
``JARVIS_FEED``, ``JARVIS_DB``, ``JARVIS_INTERVAL``, ``JARVIS_NAME``, ``JARVIS_STRATEGY``,
``JARVIS_PARAMS``, ``JARVIS_CASH``, ``JARVIS_FEE``); with ``jarvis serve`` from the same
options as ``jarvis run``. What neither gives is the stored bot's setting (its strategy,
parameters, cash and fee), so serving a database shows the bot it holds.

>>> from jarvis_helpers import app
>>> app._BOT is None  # importing the module created nothing
True
"""

from __future__ import annotations

import atexit
import signal
import sys

# absolute imports: `panel serve` runs this file as a script, outside the package
from jarvis_helpers.bot import Bot
from jarvis_helpers.errors import ConfigError

_BOT: Bot | None = None
REPLAY_INTERVAL = 0.2  # seconds between replayed ticks when none is given: lively, readable
LIVE_INTERVAL = 1.0


def default_interval(feed_spec: str) -> float:
    """Seconds between fetches when none is given: a replay moves faster than a live feed.

    >>> default_interval("replay"), default_interval("kraken:BTC/USD")
    (0.2, 1.0)
    """
    return REPLAY_INTERVAL if feed_spec.split(":")[0] in ("replay", "random") else LIVE_INTERVAL


def shared_bot(feed=None, db=None, interval=None, name: str | None = None, *,
               settings=None) -> Bot:
    """The one bot of this process, created on first call (later arguments are ignored).

    ``settings``: a ``Settings``; else one from the environment and these arguments.
    """
    global _BOT
    if _BOT is None:
        from jarvis_helpers.settings import Settings

        if settings is None:
            settings = Settings.from_env(feed=feed, db=db, interval=interval, name=name)
        _BOT = settings.make_bot(default_interval=lambda f: default_interval(f.spec))
        atexit.register(_commit_at_exit)
    return _BOT


def _commit_at_exit() -> None:
    if _BOT is not None:
        _BOT._safe_flush()  # whatever way the server ends, pending ticks are committed


def build_app(bot: Bot | None = None, *, backlog: int = 1000, max_fps: float = 10):
    """The page for one browser session: the dashboard of ``bot`` (default: the shared
    bot) in a Panel template, with Start / Stop buttons."""
    import panel as pn

    from jarvis_helpers.dashboard import Dashboard

    bot = bot if bot is not None else shared_bot()
    dashboard = Dashboard(bot, backlog=backlog, max_fps=max_fps)
    start = pn.widgets.Button(label="Start", button_type="success", css_classes=["jarvis-start"],
                              sizing_mode="stretch_width")
    stop = pn.widgets.Button(label="Stop", button_type="danger", css_classes=["jarvis-stop"],
                             sizing_mode="stretch_width")

    def on_start(_event):
        bot.start()  # on the server's running loop; a second click returns the same task
        dashboard.wake()  # the page updates again (it does no periodic work while stopped)

    async def on_stop(_event):
        await bot.stop()

    start.on_click(on_start)
    stop.on_click(on_stop)
    about = pn.pane.Markdown(
        f"**Bot** `{bot.name}`  \n**Feed** `{bot.feed.spec}`  \n**Database** "
        f"`{bot.store.safe_url}`  \n**Interval** {bot.interval:g} s\n\n"
        "Paper trading only: no real orders. One bot is shared by every browser tab.",
        styles={"overflow-wrap": "anywhere"}, sizing_mode="stretch_width")
    template = pn.template.BootstrapTemplate(
        title="JARVIS algorithmic trading dashboard",
        sidebar=[start, stop, about], main=[dashboard.panel()], sidebar_width=260)
    template.dashboard = dashboard  # for tests and notebooks
    return template


async def _shutdown(server) -> None:
    bot = _BOT
    try:
        if bot is not None:
            await bot.stop()
    finally:
        server.io_loop.stop()


def serve(feed=None, db=None, port: int = 5006, interval=None, name: str | None = None,
          show: bool = False, address: str = "127.0.0.1", *, settings=None) -> None:
    """Serve the dashboard until Ctrl-C / SIGTERM, then stop the bot cleanly.

    The same as ``jarvis serve [--feed SPEC] [--db URL] [--port P] [--interval S] [--name N]
    [--strategy S --param k=v] [--cash C] [--fee F]``; ``settings``: a ``Settings``.
    """
    import panel as pn

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port {port!r}: give a whole number from 1 to 65535 (e.g. 5006)")
    bot = shared_bot(feed, db, interval, name, settings=settings)  # bad settings fail here
    bot.summary()  # resume now: a stored bot that these settings cannot resume fails here too
    origins = sorted({f"{address}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})
    server = pn.serve({"/": build_app}, port=port, address=address, show=show, start=False,
                      title="JARVIS", websocket_origin=origins, verbose=False)
    loop = server.io_loop.asyncio_loop
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, lambda: loop.create_task(_shutdown(server)))
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    server.start()
    print(f"JARVIS dashboard: http://{address}:{server.port}/  ({bot.name} on {bot.feed.spec}, "
          f"{bot.strategy.describe()}, {bot.store.safe_url}; Ctrl-C stops)", flush=True)
    try:
        server.io_loop.start()
    finally:
        if bot.running:
            loop.run_until_complete(bot.stop())
        bot._safe_flush()
        server.stop()
        bot.store.close()
        print(f"stopped: {bot.status_line()}", file=sys.stderr, flush=True)


if __name__.startswith("bokeh_app"):  # `panel serve jarvis_helpers/app.py`: one page per session
    from jarvis_helpers.app import build_app as _build  # the package's module: one shared bot

    _build().servable()
