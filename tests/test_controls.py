"""BotControls: the notebook's Start / Stop buttons drive a real bot on a running loop."""

from __future__ import annotations

import asyncio

from jarvis_helpers import Bot, BotControls, Store


async def _until(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_start_twice_runs_one_loop_and_stop_stops_it(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.sqlite'}")
    bot = Bot("replay", store, interval=0.001)
    controls = BotControls(bot, refresh=0.01)

    async def scenario():
        controls.start_button.click()
        task = bot._task
        await _until(lambda: bot.ticks >= 20)
        assert "running" in controls.status.value
        assert controls.start_button.disabled and not controls.stop_button.disabled
        controls._on_start()  # a second Start (even if the button were enabled)
        assert bot._task is task
        controls.stop_button.click()
        await _until(lambda: not bot.running and bot.status == "stopped")
        await asyncio.sleep(0.05)  # the done callbacks refresh the label
        ticks = bot.ticks
        await asyncio.sleep(0.05)
        assert bot.ticks == ticks  # really stopped
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks >= 20
    assert "stopped" in controls.status.value and f"ticks {ticks}" in controls.status.value
    assert not controls.start_button.disabled and controls.stop_button.disabled
    assert store.count_ticks("jarvis") == ticks  # Stop committed every tick acted on
    text = "".join(o["text"] for o in controls.output.outputs)
    assert "started jarvis" in text and "already running" in text and "stopped" in text


def test_an_error_in_the_bot_shows_in_the_label(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    asyncio.run(Bot("replay", Store(url), interval=0, cash=10_000).run(max_ticks=5))
    bot = Bot("replay", Store(url), interval=0, cash=5_000)  # resuming with other settings
    controls = BotControls(bot, refresh=0.01)

    async def scenario():
        controls.start_button.click()
        await _until(lambda: not bot.running)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert bot.status == "error"
    assert "error" in controls.status.value and "cash=10000" in controls.status.value
    text = "".join(o["text"] for o in controls.output.outputs)
    assert "stopped with an error" in text


def test_without_a_running_loop_the_buttons_say_so():
    controls = BotControls(Bot("replay", Store("sqlite://"), interval=0))
    controls.start_button.click()
    assert controls.bot.status == "idle"
    assert "no running event loop" in controls.output.outputs[0]["text"]


def test_a_click_delivered_on_another_thread_starts_the_bot_on_the_controls_loop(tmp_path):
    # JupyterLab's default (comms over subshells) delivers a click on a kernel thread of
    # its own, with an event loop of its own: the bot must still run on the main loop.
    import threading

    bot = Bot("replay", Store(f"sqlite:///{tmp_path / 'c.sqlite'}"), interval=0.001)

    async def scenario():
        controls = BotControls(bot, refresh=0.01)
        main = asyncio.get_running_loop()
        clicker = threading.Thread(target=controls.start_button.click, name="subshell")
        clicker.start()
        clicker.join(5)
        await _until(lambda: bot.running)
        assert bot._task.get_loop() is main
        await _until(lambda: bot.ticks >= 5)
        clicker = threading.Thread(target=controls.stop_button.click, name="subshell")
        clicker.start()
        clicker.join(5)
        await _until(lambda: not bot.running and bot.status == "stopped")
        await asyncio.sleep(0.05)
        return controls

    controls = asyncio.run(scenario())
    text = controls.output.outputs[0]["text"]
    assert text.splitlines() == ["started jarvis on replay:BTC/USD", "stopped"]


def test_the_log_shows_whole_lines_the_newest_six():
    controls = BotControls(Bot("replay", Store("sqlite://"), interval=0))
    for i in range(9):
        controls.message(f"line {i}")
    assert controls.output.outputs[0]["text"] == "".join(f"line {i}\n" for i in range(3, 9))
    assert "max_height" not in {k for k, v in controls.output.layout.get_state().items() if v}
