"""Start / Stop buttons and a status label for the notebook (ipywidgets).

The buttons only call ``bot.start()`` (a task on the kernel's running loop; a second click
does not start a second loop) and ``bot.stop()``. The label shows the bot's status, ticks
and last error, refreshed while it runs and when it ends, so an error is seen, not lost in
a task. Messages go to the controls' own ``Output`` widget, never to print (so nothing lands
in whichever cell happens to be running).

JupyterLab 4.4+ may deliver a click on a kernel *subshell* thread ("comms over
subshells", its default): the click is then handed to the event loop the controls were
created on (the kernel's main loop), so the bot always runs there.

>>> from jarvis_helpers import Bot, Store, BotControls
>>> controls = BotControls(Bot("replay", Store("sqlite://"), interval=0))
>>> controls.start_button.description, controls.stop_button.description
('Start', 'Stop')
>>> controls.status.value
'jarvis [replay:BTC/USD] idle | ticks 0 | trades 0'
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

LOG_LINES = 6


class BotControls:
    """ipywidgets Start / Stop buttons, a status label and an Output for messages.

    Display it (it is the last line of a cell, or ``display(controls)``); ``refresh``:
    seconds between label updates while the bot runs.
    """

    def __init__(self, bot, refresh: float = 0.5):
        import ipywidgets as w

        self.bot = bot
        self.refresh_every = float(refresh)
        self.start_button = w.Button(description="Start", button_style="success", icon="play",
                                     tooltip="start the bot on the notebook's event loop")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    tooltip="stop the bot (pending ticks are committed)")
        self.status = w.Label(layout={"width": "auto"})
        # The newest LOG_LINES messages, whole: the box is as tall as its lines (a box of
        # fixed height with a scroll bar cut its last line in half).
        self.output = w.Output()
        self._lines: deque[str] = deque(maxlen=LOG_LINES)
        self.start_button.on_click(self._on_start)
        self.stop_button.on_click(self._on_stop)
        self.widget = w.VBox([w.HBox([self.start_button, self.stop_button, self.status]),
                              self.output])
        try:  # the loop (and thread) a click must run on
            self._home = asyncio.get_running_loop()
        except RuntimeError:
            self._home = None
        self._home_thread = threading.current_thread()
        self._refresher: asyncio.Task | None = None
        self._stopping: asyncio.Task | None = None
        self.refresh()

    # -- the label -----------------------------------------------------------------------
    def refresh(self) -> str:
        """Show the bot's status line now; returns it."""
        text = self.bot.status_line()
        self.status.value = text
        self.start_button.disabled = self.bot.running
        self.stop_button.disabled = not self.bot.running
        return text

    def message(self, text: str) -> None:
        """Add a line to the Output widget (only the newest ``LOG_LINES`` are shown)."""
        self._lines.extend(text.rstrip("\n").splitlines() or [""])
        self.output.outputs = ({"output_type": "stream", "name": "stdout",
                                "text": "\n".join(self._lines) + "\n"},)

    async def _keep_fresh(self) -> None:
        try:
            while self.bot.running:
                self.refresh()
                await asyncio.sleep(self.refresh_every)
        finally:
            self.refresh()

    # -- the buttons ---------------------------------------------------------------------
    def _elsewhere(self, handler) -> bool:
        """On another thread than the controls' loop: hand ``handler`` to that loop."""
        home = self._home
        if home is None or threading.current_thread() is self._home_thread or home.is_closed():
            return False
        home.call_soon_threadsafe(handler)
        return True

    def _loop(self, action: str):
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            self.message(f"cannot {action}: no running event loop (run this in Jupyter, or "
                         "use asyncio.run(bot.run()) in a script)")
            return None

    def _on_start(self, _button=None) -> None:
        if self._elsewhere(self._on_start):
            return
        loop = self._loop("start")
        if loop is None:
            return
        if self.bot.running:
            self.message("already running")
            self.refresh()
            return
        try:
            task = self.bot.start()
        except Exception as exc:  # noqa: BLE001 - shown to the user, not raised into ipywidgets
            self.message(f"could not start: {exc}")
            self.refresh()
            return
        task.add_done_callback(self._on_done)
        self.message(f"started {self.bot.name} on {self.bot.feed.spec}")
        if self._refresher is None or self._refresher.done():
            self._refresher = loop.create_task(self._keep_fresh())
        self.refresh()

    def _on_done(self, task: asyncio.Task) -> None:
        self.refresh()
        if not task.cancelled() and task.exception() is not None:
            self.message(f"stopped with an error: {self.bot.last_error}")

    def _on_stop(self, _button=None) -> None:
        if self._elsewhere(self._on_stop):
            return
        loop = self._loop("stop")
        if loop is None:
            return
        if self._stopping is None or self._stopping.done():
            self._stopping = loop.create_task(self.bot.stop())
            self._stopping.add_done_callback(lambda _t: (self.refresh(),
                                                         self.message("stopped")))
        self.refresh()

    # -- display -------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<BotControls for {self.bot!r}>"
