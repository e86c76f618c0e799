"""`jarvis download` and `jarvis verify`: one JSON line; bad arguments exit 2 with one line."""

import asyncio
import importlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from jarvis_helpers import Bot, ReplayFeed, Store, cli, load_sample
from recorded_exchange import RecordedKraken

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "kraken" / "XBTUSD_60.csv"


def jarvis(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jarvis_helpers", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_download_from_the_exchange_then_again(monkeypatch, tmp_path, capsys):
    made = []

    def recorded(exchange_id, config=None):
        assert exchange_id == "kraken"
        made.append(RecordedKraken(config={"rateLimit": 1}, ohlc_rows=6))
        return made[-1]

    # the module (the package attribute `download` is the function)
    monkeypatch.setattr(importlib.import_module("jarvis_helpers.download"), "_build_exchange", recorded)
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    args = ["download", "--exchange", "kraken", "--symbol", "BTC/USD", "--timeframe", "1h",
            "--since", "2020-09-30 12:00", "--db", db, "--quiet"]
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first == {"added": 11, "exchange": "kraken", "symbol": "BTC/USD", "timeframe": "1h",
                     "candles": 11, "first": "2020-09-30T12:00:00+00:00",
                     "last": "2020-09-30T22:00:00+00:00"}
    assert cli.main(args) == 0  # resumed: nothing new has closed
    assert json.loads(capsys.readouterr().out)["added"] == 0
    assert all(ex.closed for ex in made)


def test_download_imports_a_kraken_csv(tmp_path):
    path = tmp_path / "XBTUSD_60.csv"
    sample = load_sample("BTC/USD").iloc[:300]
    path.write_text("".join(f"{t.value // 10**9},{r.open},{r.high},{r.low},{r.close},{r.volume},5\n"
                            for t, r in sample.iterrows()))
    db = tmp_path / "csv.sqlite"
    proc = jarvis("download", "--csv", path, "--db", db, "--quiet")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["added"], out["candles"], out["symbol"], out["timeframe"]) == (300, 300, "BTC/USD", "1h")
    again = jarvis("download", "--csv", path, "--db", db, "--quiet")
    assert json.loads(again.stdout)["added"] == 0


@pytest.mark.skipif(not SHARED_CSV.exists(), reason="the shared Kraken file is not on this machine")
def test_download_imports_the_whole_shared_kraken_file(tmp_path):
    proc = jarvis("download", "--csv", SHARED_CSV, "--db", tmp_path / "all.sqlite", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["candles"] == 50_378


@pytest.mark.parametrize("args,message", [
    (["--timeframe", "2h"], "bad timeframe '2h'"),
    (["--symbol", "BTCUSD"], "bad symbol 'BTCUSD'"),
    (["--csv", "missing.csv"], "does not exist"),
    (["--exchange", "krakn"], "unknown exchange 'krakn'"),
])
def test_bad_download_arguments_exit_2_with_one_line(args, message, tmp_path):
    proc = jarvis("download", *args, "--db", tmp_path / "bad.sqlite", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


def _bot_db(tmp_path):
    path = tmp_path / "live.sqlite"
    store = Store(path)
    asyncio.run(Bot(ReplayFeed(load_sample("BTC/USD").iloc[:800]), store, name="v", interval=0).run())
    fills = store.trades_frame("v")
    store.close()
    return path, fills


def test_jarvis_verify_prints_one_json_line(tmp_path):
    original, fills = _bot_db(tmp_path)
    copy = tmp_path / "edited.sqlite"
    shutil.copy(original, copy)
    with sqlite3.connect(copy) as db:
        db.execute("UPDATE jarvis_trades SET units = units * 2 WHERE id = (SELECT max(id) FROM jarvis_trades)")
    db.close()
    good = jarvis("verify", "--db", original, "--name", "v")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True
    bad = jarvis("verify", "--db", copy, "--name", "v")
    assert bad.returncode == 1
    out = json.loads(bad.stdout)
    assert out["ok"] is False and out["difference"]["time"] == str(fills.index[-1])
    assert "differs in units" in out["message"]
    unknown = jarvis("verify", "--db", original, "--name", "nobody")
    assert unknown.returncode == 2 and "no bot 'nobody'" in unknown.stderr
