"""The class leaderboard's data (ClassBoard) on real SQLite files and a real PostgreSQL
server, written by real bots; its read-only connections; `jarvis class` arguments."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
import sqlalchemy as sa

from jarvis_helpers import Bot, ReplayFeed, Store, backtest, load_sample
from jarvis_helpers.errors import ConfigError, StoreError
from jarvis_helpers.leaderboard import ClassBoard, Leaderboard, describe_strategy, read_only_engine
from jarvis_helpers.ticks import Tick


class Clock:
    """A hand-wound clock for the running/stopped rule (no sleeping in tests)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _run(bot, n):
    return asyncio.run(bot.run(max_ticks=n))


def _row(frame, name):
    rows = frame[frame["bot"] == name]
    assert len(rows) == 1, frame
    return rows.iloc[0]


def test_board_agrees_with_the_bot_and_the_backtest_read_in_two_parts(store_url):
    """Equity and fills match the bot's own summary; buy-and-hold and max drawdown match a
    backtest over the same bars, although the board read the ticks in two refreshes."""
    store = Store(store_url)
    bot = Bot(ReplayFeed(), store, name="ada", interval=0)
    board = ClassBoard(store_url, min_period=0.0)
    try:
        _run(bot, 300)
        first = _row(board.refresh(), "ada")
        assert first["ticks"] == 300
        _run(bot, 300)
        row = _row(board.refresh(), "ada")
        summary = bot.summary()
        stats = backtest(load_sample("BTC/USD").head(600), short=10, long=20).stats
        assert row["ticks"] == summary["ticks"] == 600
        assert row["trades"] == summary["trades"] == stats["n_fills"]
        assert row["equity"] == round(summary["equity"], 2)
        assert row["return"] == pytest.approx(stats["total_return"], rel=1e-9)
        assert row["buy_hold"] == pytest.approx(stats["buy_hold_return"], rel=1e-9)
        assert row["vs_buy_hold"] == pytest.approx(stats["total_return"] - stats["buy_hold_return"])
        assert row["max_drawdown"] == pytest.approx(stats["max_drawdown"], rel=1e-9)
        assert (row["strategy"], row["params"]) == ("sma", "long=20, short=10")
        assert row["last_tick"] == f"{load_sample('BTC/USD').index[599]:%Y-%m-%d %H:%M:%S}"
    finally:
        board.close()
        store.close()


def test_rows_are_sorted_by_return_and_list_every_registered_bot(tmp_path):
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    store = Store(url)
    for name, short, long in (("s1", 10, 20), ("s2", 5, 40), ("s3", 30, 60)):
        _run(Bot(ReplayFeed(), store, name=name, short=short, long=long, interval=0), 400)
    _ = store.register_bot("late", {"symbol": "BTC/USD", "cash": 500.0, "fee": 0.0,
                                    "strategy": "rsi", "params": {"period": 7}})
    board = ClassBoard(url)
    frame = board.refresh()
    board.close()
    store.close()
    assert sorted(frame["bot"]) == ["late", "s1", "s2", "s3"]
    returns = frame["return"].tolist()
    assert returns == sorted(returns, reverse=True)
    late = _row(frame, "late")
    assert (late["strategy"], late["params"], late["equity"], late["ticks"]) == ("rsi", "period=7", 500.0, 0)
    assert _row(frame, "s2")["params"] == "long=40, short=5"


def test_running_checking_stopped():
    """A bot shows `checking` until watched `stale_after` seconds, `running` while new ticks
    arrive, `stopped` once none came for `stale_after` seconds."""
    store = Store("sqlite://")
    clock = Clock()
    store.register_bot("bea", {"cash": 100.0, "fee": 0.0})
    board = ClassBoard(store, stale_after=5.0, min_period=0.0, clock=clock)
    store.write("bea", [(Tick("BTC/USD", "2020-01-01T00:00Z", 10.0), None)])
    assert _row(board.refresh(), "bea")["status"] == "checking"  # first read: cannot tell yet
    clock.now += 6
    assert _row(board.refresh(), "bea")["status"] == "stopped"  # nothing new for 6 s
    store.write("bea", [(Tick("BTC/USD", "2020-01-01T01:00Z", 11.0), None)])
    clock.now += 1
    assert _row(board.refresh(), "bea")["status"] == "running"
    clock.now += 4
    assert _row(board.refresh(), "bea")["status"] == "running"
    clock.now += 2
    row = _row(board.refresh(), "bea")
    assert row["status"] == "stopped" and row["ticks"] == 2 and row["equity"] == 100.0


def test_old_config_is_the_sma_with_its_windows():
    assert describe_strategy({"symbol": "BTC/USD", "cash": 1.0, "short": 7, "long": 9}) == ("sma", "short=7, long=9")
    assert describe_strategy({}) == ("sma", "short=10, long=20")
    assert describe_strategy({"strategy": "bollinger", "params": {}}) == ("bollinger", "")


def test_sqlite_board_is_read_only_and_creates_nothing(tmp_path):
    path = tmp_path / "class.sqlite"
    url = f"sqlite:///{path}"
    store = Store(url)
    _run(Bot(ReplayFeed(), store, name="ada", interval=0), 50)
    store.close()
    before = path.read_bytes()
    engine, shown = read_only_engine(url)
    with engine.connect() as conn, pytest.raises(sa.exc.OperationalError, match="readonly"):
        conn.exec_driver_sql("DELETE FROM jarvis_ticks")
    engine.dispose()
    board = ClassBoard(url)
    assert _row(board.refresh(), "ada")["ticks"] == 50
    board.close()
    assert path.read_bytes() == before

    empty = tmp_path / "empty.sqlite"
    empty.touch()  # a file no bot wrote to yet: an empty board, the file untouched
    board = ClassBoard(f"sqlite:///{empty}")
    assert board.refresh().empty and board.error == ""
    board.close()
    assert empty.stat().st_size == 0


def test_postgresql_board_is_read_only_and_hides_the_password(pg_url):
    store = Store(pg_url)
    _run(Bot(ReplayFeed(), store, name="ada", interval=0), 30)
    store.close()
    engine, shown = read_only_engine(pg_url)
    with engine.connect() as conn, pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        conn.exec_driver_sql("DELETE FROM jarvis_ticks")
    engine.dispose()
    board = ClassBoard(pg_url)
    assert _row(board.refresh(), "ada")["ticks"] == 30
    board.close()

    with_password = sa.engine.make_url(pg_url).set(password="s3cret-pw", port=1)
    board = ClassBoard(with_password.render_as_string(hide_password=False))
    frame = board.refresh()  # nothing answers on port 1: the board says so, without raising
    assert frame.empty and "cannot read" in board.error
    assert "s3cret-pw" not in board.error and "s3cret-pw" not in board.safe_url
    assert "***" in board.safe_url
    board.close()


def test_leaderboard_page_object_shows_the_table_and_updates(tmp_path):
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    store = Store(url)
    bot = Bot(ReplayFeed(), store, name="ada", interval=0)
    _run(bot, 40)
    page = Leaderboard(url, period=0.5)
    try:
        assert page.table.value["ticks"].tolist() == [40]
        assert page.table.disabled and not page.table.show_index
        _run(bot, 10)
        page.board.min_period = 0.0
        page.update()  # what the periodic callback calls
        assert page.table.value["ticks"].tolist() == [50]
        assert page.table.value["status"].tolist() == ["running"]
        header = page.objects[1].object
        assert "1 bot, 1 running" in header and url.replace("sqlite:///", "") in header
    finally:
        page.callback.stop()
        page.board.close()
        store.close()


@pytest.mark.parametrize("args, says", [
    (["--db", "sqlite:///no/such/file.sqlite"], "no database at 'no/such/file.sqlite'"),
    (["--db", "sqlite://"], "in-memory database"),
    (["--db", "x.sqlite", "--port", "http"], "'http' is not a port number"),
    (["--db", "x.sqlite", "--period", "0"], "--period 0.0: give seconds > 0"),
    ([], "the following arguments are required: --db"),
])
def test_class_command_bad_arguments_are_one_line(args, says, tmp_path):
    (tmp_path / "x.sqlite").touch()
    done = subprocess.run([sys.executable, "-m", "jarvis_helpers", "class", *args],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_bad_values_in_python_are_config_errors():
    with pytest.raises(ConfigError, match="stale_after=0"):
        ClassBoard(Store("sqlite://"), stale_after=0)
    with pytest.raises(ConfigError, match="period=-1"):
        Leaderboard(Store("sqlite://"), period=-1)
    with pytest.raises(StoreError):
        ClassBoard("sqlite:///definitely/not/here.sqlite")


def test_leaderboard_in_a_notebook_kernel_updates_by_itself(tmp_path):
    """`Leaderboard(store)` in a real kernel: shown without Panel's "Tabulator was not
    imported" warning, and its periodic callback picks up new ticks on its own."""
    import nbformat
    from nbclient import NotebookClient

    cells = [
        "from jarvis_helpers.dashboard import extension\nextension()\n"
        "from jarvis_helpers import Bot, ReplayFeed, Store\n"
        "from jarvis_helpers.leaderboard import Leaderboard\n"
        "store = Store('sqlite:///nbclass.sqlite')\n"
        "bot = Bot(ReplayFeed(), store, name='nb', interval=0)\nawait bot.run(max_ticks=100)",
        "page = Leaderboard(store, period=0.3)\npage",
        "import asyncio\nawait bot.run(max_ticks=50)\nawait asyncio.sleep(1.5)  # no update() called\n"
        "print(page.table.value[['bot', 'ticks', 'status']].to_string(index=False))\npage.callback.stop()",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    streams = [o for c in nb.cells for o in c.outputs if o.output_type in ("stream", "error")]
    assert [o.text for o in streams] == ["bot  ticks  status\n nb    150 running\n"], streams
