"""The ``jarvis`` command: a JSON summary, clean errors, and kill -9 at any moment loses nothing."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from jarvis_helpers import Store
from tests.kill9 import kill_9_at, ticks_in

JARVIS = [sys.executable, "-m", "jarvis_helpers"]


def jarvis(*args, **kw):
    return subprocess.run([*JARVIS, *args], capture_output=True, text=True, timeout=120, **kw)


def ledger(db):
    store = Store(f"sqlite:///{db}")
    try:
        return [t.as_dict() for t in store.trades("jarvis")], store.count_ticks("jarvis")
    finally:
        store.close()


def test_run_prints_one_json_line_with_the_whole_state(tmp_path):
    db = tmp_path / "r.sqlite"
    first = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "300", "--quiet")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 1
    state = json.loads(lines[0])
    assert list(state) == ["ticks", "trades", "cash", "position", "equity"]
    assert state["ticks"] == 300
    second = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "200", "--quiet")
    assert json.loads(second.stdout)["ticks"] == 500  # the total, not this run
    reset = jarvis("run", "--feed", "replay", "--db", str(db), "--ticks", "100", "--reset", "--quiet")
    assert json.loads(reset.stdout)["ticks"] == 100


def test_progress_goes_to_stderr(tmp_path):
    out = jarvis("run", "--feed", "random:1", "--db", str(tmp_path / "p.sqlite"), "--ticks", "60000",
                 "--progress", "0.05")
    assert out.returncode == 0
    assert "ticks/s" in out.stderr and "ticks" in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["run", "--cash", "-5"], "cash '-5'"),
    (["run", "--short", "30"], "short window 30 must be smaller than long window 20"),
    (["run", "--feed", "krakn:BTC/USD"], "Did you mean: kraken"),
    (["run", "--ticks", "many"], "'many' is not a whole number"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, needle):
    db = tmp_path / "bad.sqlite"
    out = jarvis(*args, "--db", str(db)) if args[0] == "run" else jarvis(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and needle in out.stderr and "Traceback" not in out.stderr
    assert not db.exists()  # nothing was created or changed


def test_kill_9_at_any_moment_then_resume_equals_an_uninterrupted_run(tmp_path):
    base = ["run", "--feed", "replay:BTC/USD", "--interval", "0", "--quiet"]
    whole_db = tmp_path / "whole.sqlite"
    whole = jarvis(*base, "--db", str(whole_db))
    assert whole.returncode == 0, whole.stderr
    expected_state = json.loads(whole.stdout)
    expected_ledger = ledger(whole_db)
    total = expected_state["ticks"]

    rng = random.Random(20261125)
    killed_mid_run = 0
    for attempt in range(4):
        db = tmp_path / f"killed{attempt}.sqlite"
        for _ in range(1 + attempt % 2):  # one or two kills in a row
            target = rng.randrange(1, total)
            kill_9_at([*JARVIS, *base, "--db", str(db)], db, target, 60)
            if 0 < ticks_in(db) < total:
                killed_mid_run += 1
        resumed = jarvis(*base, "--db", str(db))
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads(resumed.stdout) == expected_state
        assert ledger(db) == expected_ledger
    assert killed_mid_run >= 3  # the kills really landed in the middle of runs


# -- strategies through the command line ------------------------------------------------------
USER = "tests/user_strategies.py:Momentum"


def _config(db):
    store = Store(f"sqlite:///{db}")
    try:
        return store.bot_config("jarvis"), store.count_ticks("jarvis"), store.trades("jarvis")
    finally:
        store.close()


def test_a_strategy_from_a_file_runs_resumes_and_is_kept(tmp_path):
    db = tmp_path / "u.sqlite"
    base = ["run", "--db", str(db), "--quiet"]
    first = jarvis(*base, "--strategy", USER, "--param", "lookback=12", "--ticks", "600")
    assert first.returncode == 0, first.stderr
    config, ticks, trades = _config(db)
    assert (config["strategy"], config["params"], config["source"]) == (
        "Momentum", {"lookback": 12, "threshold": 0.01}, USER)
    assert ticks == 600 and len(trades) > 2
    # no --strategy: the stored one (its file, its parameters) resumes
    second = jarvis(*base, "--ticks", "400")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["ticks"] == 1000
    # the same through the Python API: the backtest of those bars makes the bot's fills
    from jarvis_helpers import backtest, load_sample

    expected = backtest(load_sample().iloc[:1000], USER, params={"lookback": 12}).fills
    assert [t.timestamp for t in _config(db)[2]] == list(expected.index)


def test_resuming_with_another_strategy_exits_2_and_changes_nothing(tmp_path):
    db = tmp_path / "s.sqlite"
    assert jarvis("run", "--db", str(db), "--quiet", "--short", "5", "--ticks", "300").returncode == 0
    before = _config(db)
    for args, needle in [(["--strategy", "rsi"], "strategy 'sma' (short=5, long=20) (now 'rsi'"),
                         (["--short", "6"], "short=5 (now 6)"),
                         (["--strategy", "rsi", "--param", "perod=3"], "Did you mean: period"),
                         (["--strategy", "tests/user_strategies.py:Momentun"], "Did you mean: Momentum")]:
        out = jarvis("run", "--db", str(db), "--quiet", *args)
        assert out.returncode == 2 and needle in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert _config(db) == before
    # the stored sma 5/20 is what a bare `run` (and `serve`) resumes
    again = jarvis("run", "--db", str(db), "--quiet", "--ticks", "10")
    assert again.returncode == 0 and json.loads(again.stdout)["ticks"] == 310


def test_serve_builds_the_stored_bot_with_runs_options(tmp_path):
    from jarvis_helpers import Store as _Store
    from jarvis_helpers.settings import Settings

    db = tmp_path / "v.sqlite"
    assert jarvis("run", "--db", str(db), "--quiet", "--short", "5", "--fee", "0.001",
                  "--ticks", "100").returncode == 0
    store = _Store(f"sqlite:///{db}")
    bot = Settings.from_env({}, db=f"sqlite:///{db}").make_bot(store)
    assert (bot.short, bot.long, bot.account.fee) == (5, 20, 0.001)
    assert bot.summary()["ticks"] == 100  # resumed, not refused
    store.close()


def test_serve_refuses_bad_options_like_run(tmp_path):
    db = tmp_path / "w.sqlite"
    out = jarvis("serve", "--db", f"sqlite:///{db}", "--strategy", "rsi", "--param", "lower=90")
    assert out.returncode == 2 and "lower < upper" in out.stderr and not db.exists()


def test_backtest_sweep_and_strategies_commands():
    bt = jarvis("backtest", "--strategy", USER, "--param", "lookback=12", "--json")
    assert bt.returncode == 0, bt.stderr
    assert json.loads(bt.stdout)["strategy"] == "Momentum"
    sw = jarvis("sweep", "--strategy", "rsi", "--grid", "period=7,14", "--grid", "lower=20:40:10",
                "--json")
    rows = [json.loads(line) for line in sw.stdout.splitlines()]
    assert sw.returncode == 0 and len(rows) == 4
    assert [r["total_return"] for r in rows] == sorted((r["total_return"] for r in rows), reverse=True)
    listing = json.loads(jarvis("strategies", "--json").stdout)
    assert list(listing) == ["sma", "ema", "rsi", "bollinger"]
    assert listing["rsi"]["params"] == {"period": 14, "lower": 30.0, "upper": 70.0}
    bad = jarvis("sweep", "--grid", "shrt=5,10")
    assert bad.returncode == 2 and "Did you mean: short" in bad.stderr


def test_jarvis_serve_on_a_database_whose_bot_ran_short_5(tmp_path):
    """The served bot is the stored one (SMA 5/20, its fee): the page loads, and the
    stopped server leaves the bot's config and ticks as they were."""
    import socket
    import urllib.request

    db = tmp_path / "served.sqlite"
    assert jarvis("run", "--db", str(db), "--quiet", "--short", "5", "--fee", "0.001",
                  "--ticks", "200").returncode == 0
    before = _config(db)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([*JARVIS, "serve", "--db", f"sqlite:///{db}", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "JARVIS dashboard" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start in 60 s"
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert proc.returncode == 0, text
    assert "started with" not in text and "Traceback" not in text
    assert "sma(short=5, long=20), warm-up 20 bars" in text
    assert "stopped: jarvis" in text and "ticks 200" in text
    assert _config(db) == before
    # a strategy the stored bot cannot resume with: refused before serving, one line
    out = jarvis("serve", "--db", f"sqlite:///{db}", "--port", str(port), "--strategy", "rsi")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "strategy 'sma' (short=5, long=20) (now 'rsi'" in out.stderr
    assert _config(db) == before


def test_a_rules_error_mid_run_is_one_line_naming_the_class_and_bar(tmp_path):
    db = tmp_path / "e.sqlite"
    out = jarvis("run", "--db", str(db), "--quiet", "--strategy",
                 "tests/user_strategies.py:Explodes", "--ticks", "100")
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "jarvis: error: Explodes.rules raised KeyError: 'volume_ma' deciding on the bar of "
        "2018-10-03 00:00:00+00:00 (5 bars given)"]
    assert _config(db)[1] == 48  # every bar before it is stored; the one it failed on is not


def test_backtest_and_sweep_on_stored_candles(tmp_path):
    from jarvis_helpers import backtest, load_sample

    db = f"sqlite:///{tmp_path / 'c.sqlite'}"
    candles = load_sample().iloc[:2000]
    store = Store(db)
    store.write_candles("kraken", "BTC/USD", "1h", candles)
    store.close()
    out = jarvis("backtest", "--data", "candles:kraken:BTC/USD@1h", "--db", db, "--strategy", "rsi",
                 "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    expected = backtest(candles, "rsi").stats
    assert (stats["symbol"], stats["bars"], stats["final_equity"]) == (
        "BTC/USD", 2000, pytest.approx(expected["final_equity"], rel=1e-12))
    sw = jarvis("sweep", "--data", "candles:kraken:BTC/USD@1h", "--db", db, "--grid", "short=5,10",
                "--grid", "long=20", "--json")
    assert sw.returncode == 0 and len(sw.stdout.splitlines()) == 2, sw.stderr
    missing = jarvis("backtest", "--data", "candles:kraken:ETH/USD@1h", "--db", db)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def test_strategy_from_the_environment(tmp_path):
    db = tmp_path / "env.sqlite"
    env = {**os.environ, "JARVIS_STRATEGY": "rsi", "JARVIS_PARAMS": "period=7,lower=25",
           "JARVIS_FEE": "0.001"}
    out = jarvis("run", "--db", str(db), "--quiet", "--ticks", "50", env=env)
    assert out.returncode == 0, out.stderr
    config = _config(db)[0]
    assert (config["strategy"], config["params"], config["fee"]) == (
        "rsi", {"period": 7, "lower": 25.0, "upper": 70.0}, 0.001)
    # an argument wins over the environment (and here differs from the stored bot: refused)
    refused = jarvis("run", "--db", str(db), "--quiet", "--param", "period=9", env=env)
    assert refused.returncode == 2 and "period=7 (now 9)" in refused.stderr
