"""The class leaderboard in headless Chromium while five bots (`jarvis run`, five separate
processes) write to one database: PostgreSQL, and one SQLite file.

All five appear with their equity moving; a bot stopped mid-way shows as stopped while the
others keep running; the table sorts on a header click; nothing says "database is locked"
(page, console, server or bots); no request leaves the machine.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time

import pytest

from tests.browser import CHROMIUM_ARGS, chromium, free_port, offline_page, served, stop, wait

BOTS = [f"s{i}" for i in range(1, 6)]


ROWS = """rows => rows.map(r => Object.fromEntries(
  [...r.querySelectorAll('.tabulator-cell[tabulator-field]')]
    .map(c => [c.getAttribute('tabulator-field'), c.innerText])))"""


def _rows(page) -> dict[str, dict]:
    """The table as {bot: {column: text}} in the order the page shows it."""
    return {r["bot"]: r for r in page.locator(".tabulator-row").evaluate_all(ROWS) if r.get("bot")}


@pytest.fixture(params=["sqlite", "postgresql"])
def class_db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'class.sqlite'}"
    return request.getfixturevalue("pg_url")


def test_five_bots_on_the_leaderboard(class_db, tmp_path):
    from playwright.sync_api import sync_playwright

    browser_path = chromium()
    procs = {}
    with contextlib.ExitStack() as running:  # every bot and the server stopped at the end
        for i, name in enumerate(BOTS, start=1):
            # the first creates the tables: the others (and the board) find them
            procs[name] = running.enter_context(served(
                [sys.executable, "-m", "jarvis_helpers", "run", "--feed", f"random:{i}",
                 "--interval", "0.05", "--name", name, "--db", class_db],
                tmp_path / f"{name}.log", ready="ticks" if i == 1 else None, what="the first bot"))
        port = free_port()
        running.enter_context(served(
            [sys.executable, "-m", "jarvis_helpers", "class", "--db", class_db, "--port", str(port),
             "--period", "0.5", "--stale-after", "4"],
            tmp_path / "class.log", ready="JARVIS class leaderboard", what="the leaderboard server"))

        external, problems = [], []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
            try:
                page = offline_page(browser, external, problems, {"width": 1500, "height": 900})
                page.goto(f"http://127.0.0.1:{port}/")
                page.locator(".tabulator-row").first.wait_for()

                rows = wait(lambda: (r := _rows(page)) and set(r) == set(BOTS)
                            and all(v["status"] == "running" for v in r.values()) and r,
                            60, "five running bots")
                equities = {name: {rows[name]["equity"]} for name in BOTS}
                ticks = {name: int(rows[name]["ticks"].replace(",", "")) for name in BOTS}
                deadline = time.monotonic() + 60
                while any(len(seen) < 2 for seen in equities.values()):
                    assert time.monotonic() < deadline, f"equity did not move: {equities}"
                    time.sleep(0.5)
                    for name, record in _rows(page).items():
                        equities[name].add(record["equity"])
                later = _rows(page)
                assert all(int(later[n]["ticks"].replace(",", "")) > ticks[n] for n in BOTS), later

                stop(procs["s5"], signal.SIGINT)  # Ctrl-C: the bot commits and exits
                assert procs["s5"].returncode == 0, (tmp_path / "s5.log").read_text()
                stopped = wait(lambda: (r := _rows(page)) and r["s5"]["status"] == "stopped"
                               and [n for n in BOTS if r[n]["status"] != "running"] == ["s5"] and r,
                               30, "s5 shown as stopped, the other four running")
                final_s5 = stopped["s5"]["ticks"]
                time.sleep(1.5)
                assert _rows(page)["s5"]["ticks"] == final_s5

                header = page.locator(".tabulator-col[tabulator-field=bot]")
                header.click()  # sort by name, then the other way
                wait(lambda: list(_rows(page)) == BOTS, 10, "rows sorted by bot")
                header.click()
                wait(lambda: list(_rows(page)) == BOTS[::-1], 10, "rows sorted by bot, descending")
                time.sleep(1.5)  # updates keep the order the user chose
                assert list(_rows(page)) == BOTS[::-1]
                text = page.get_by_text("running = a new tick").inner_text() + repr(_rows(page))
            finally:
                browser.close()
    logs = {p.name: p.read_text() for p in tmp_path.glob("*.log")}
    assert external == [], external
    assert problems == [], problems
    assert "locked" not in text.lower()
    assert not [name for name, log in logs.items() if "locked" in log.lower() or "Traceback" in log], logs
    assert "5 bots, 4 running" in text
