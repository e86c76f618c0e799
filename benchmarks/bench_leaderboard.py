"""Does the class leaderboard slow the bots? Their ticks/s without and with the page open.

Five bots (`jarvis run --feed random:N --name sN`, five processes) write to one database;
their combined ticks per second are measured over a window, once with nothing else
running, once with `jarvis class` serving the page to a headless Chromium (refreshing every
`--period` seconds). The two phases alternate `--repeat` times; the medians are printed side
by side, per backend (one SQLite file; PostgreSQL when $JARVIS_TEST_PG_URL or --pg is set).

    .venv/bin/python benchmarks/bench_leaderboard.py [--seconds 6] [--interval 0.05] [--repeat 2]

`--interval 0.05` (the default) is the class setting: 20 ticks/s per bot at most, 100 for
the five; a page that held them up (a lock, a slow query) would show as fewer. `--interval
0` lets each bot run flat out: then the figure mostly measures how the bots, the page's
server and Chromium share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

CHROMIUM = os.environ.get("JARVIS_CHROMIUM", "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _count(engine) -> int:  # ticks of every bot so far
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT COUNT(*) FROM jarvis_ticks").scalar_one())


def _bots_writing(engine) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT COUNT(DISTINCT bot) FROM jarvis_ticks").scalar_one())
    except sa.exc.SQLAlchemyError:  # no table yet
        return 0


def _start_bots(url: str, interval: float, folder: Path, tag: str) -> list[subprocess.Popen]:
    procs = []
    for i in range(1, 6):
        log = open(folder / f"{tag}-s{i}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "jarvis_helpers", "run", "--feed", f"random:{i}", "--interval",
             str(interval), "--name", f"{tag}-s{i}", "--db", url, "--quiet"],
            stdout=log, stderr=subprocess.STDOUT))
        if i == 1:
            time.sleep(2.0)  # the first creates the tables
    return procs


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def measure(url: str, seconds: float, interval: float, with_page: bool, period: float,
            folder: Path) -> float:
    """Combined ticks/s of five bots over `seconds`, after a warm-up."""
    tag = f"{'page' if with_page else 'bare'}{uuid.uuid4().hex[:6]}"
    bots = _start_bots(url, interval, folder, tag)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    server = browser = pw = None
    try:
        if with_page:
            from playwright.sync_api import sync_playwright

            port = _free_port()
            log = open(folder / f"{tag}-class.log", "w")
            server = subprocess.Popen(
                [sys.executable, "-m", "jarvis_helpers", "class", "--db", url, "--port", str(port),
                 "--period", str(period)], stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while "JARVIS class leaderboard" not in (folder / f"{tag}-class.log").read_text():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / f"{tag}-class.log").read_text())
                time.sleep(0.2)
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator(".tabulator-row").first.wait_for(timeout=60_000)
        deadline = time.monotonic() + 120
        while _bots_writing(engine) < 5:  # every bot past its start-up
            if time.monotonic() > deadline:
                raise RuntimeError("the five bots did not all start within 120 s")
            time.sleep(0.2)
        time.sleep(1.0)
        c0, t0 = _count(engine), time.monotonic()
        time.sleep(seconds)
        c1, t1 = _count(engine), time.monotonic()
        return (c1 - c0) / (t1 - t0)
    finally:
        _stop(bots)
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        if server is not None:
            _stop([server])
        engine.dispose()


def _pg_database(base_url: str):
    base = sa.engine.make_url(base_url)
    name = f"jarvis_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return admin, name, base.set(database=name).render_as_string(hide_password=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measuring window (6)")
    parser.add_argument("--interval", type=float, default=0.05, help="bots' --interval (0.05)")
    parser.add_argument("--period", type=float, default=1.0, help="the page's refresh period (1)")
    parser.add_argument("--repeat", type=int, default=2, help="alternations of the two phases (2)")
    parser.add_argument("--pg", default=os.environ.get("JARVIS_TEST_PG_URL"),
                        help="PostgreSQL server URL (default $JARVIS_TEST_PG_URL)")
    args = parser.parse_args(argv)

    backends = [("SQLite file", None)] + ([("PostgreSQL", args.pg)] if args.pg else [])
    print(f"5 bots (jarvis run --feed random:N --interval {args.interval:g}), ticks/s of all five "
          f"together over {args.seconds:g} s, median of {args.repeat}; page: jarvis class "
          f"--period {args.period:g} open in headless Chromium")
    print(f"{'backend':12} {'without page':>14} {'with page':>12} {'with/without':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, pg in backends:
            bare, paged = [], []
            for r in range(args.repeat):
                for with_page, into in ((False, bare), (True, paged)):
                    if pg:
                        admin, name, url = _pg_database(pg)
                    else:
                        url = f"sqlite:///{folder / f'class-{r}-{with_page}.sqlite'}"
                    try:
                        into.append(measure(url, args.seconds, args.interval, with_page, args.period, folder))
                    finally:
                        if pg:
                            with admin.connect() as conn:
                                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                            admin.dispose()
            a, b = statistics.median(bare), statistics.median(paged)
            print(f"{label:12} {a:14,.0f} {b:12,.0f} {b / a:13.2f}   "
                  f"(runs: {', '.join(f'{x:,.0f}' for x in bare)} | {', '.join(f'{x:,.0f}' for x in paged)})",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
