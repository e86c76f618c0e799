"""Bad input, through the Python API and the CLI: one clear message naming the bad value
and the accepted form (the CLI exits 2 with one line, no traceback), and the database
that was there before is byte-for-byte the same afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jarvis_helpers import Bot, Store, open_feed
from jarvis_helpers.errors import JarvisError

GOOD_CSV = "timestamp,close\n2024-01-01T00:00Z,100\n2024-01-01T01:00Z,101\n2024-01-01T02:00Z,102\n"
CSVS = {
    "no_close.csv": "timestamp,price\n2024-01-01T00:00Z,100\n2024-01-01T01:00Z,101\n",
    "unsorted.csv": "timestamp,close\n2024-01-01T02:00Z,100\n2024-01-01T01:00Z,101\n",
    "duplicate.csv": "timestamp,close\n2024-01-01T00:00Z,100\n2024-01-01T00:00Z,101\n",
    "nan.csv": "timestamp,close\n2024-01-01T00:00Z,100\n2024-01-01T01:00Z,NaN\n",
    "negative.csv": "timestamp,close\n2024-01-01T00:00Z,100\n2024-01-01T01:00Z,-3\n",
    "empty.csv": "",
    "three_columns.csv": "1546300800,3700.1,3710.2\n1546304400,3705.3,3712.0\n",
}


@dataclass
class Case:
    """One bad input: CLI arguments (after ``jarvis run``), the same through the API, and
    the words every message must contain (the bad value, the accepted form)."""

    id: str
    cli: list[str]
    api: object  # callable(db_url, files) -> anything; must raise a JarvisError
    must: list[str] = field(default_factory=list)
    db: str | None = None  # a bad --db (else the reference database is used)


def bot(db, **kw):
    return Bot("replay", Store(db), **kw)


def run(db, max_ticks):
    return asyncio.run(Bot("replay", Store(db), interval=0).run(max_ticks=max_ticks))


CASES = [
    Case("cash negative", ["--cash", "-5"], lambda db, f: bot(db, cash=-5), ["cash", "-5", "> 0"]),
    Case("cash zero", ["--cash", "0"], lambda db, f: bot(db, cash=0), ["cash", "0", "> 0"]),
    Case("cash text", ["--cash", "lots"], lambda db, f: bot(db, cash="lots"), ["'lots'", "number"]),
    Case("cash nan", ["--cash", "nan"], lambda db, f: bot(db, cash=float("nan")), ["nan", "> 0"]),
    Case("cash infinite", ["--cash", "inf"], lambda db, f: bot(db, cash=float("inf")), ["inf", "finite"]),
    Case("short > long", ["--short", "20", "--long", "10"], lambda db, f: bot(db, short=20, long=10),
         ["short window 20", "long window 10", "smaller"]),
    Case("short == long", ["--short", "15", "--long", "15"], lambda db, f: bot(db, short=15, long=15),
         ["15", "smaller"]),
    Case("short text", ["--short", "ten"], lambda db, f: bot(db, short="ten"), ["ten", "whole number"]),
    Case("short fraction", ["--short", "2.5"], lambda db, f: bot(db, short=2.5), ["2.5", "whole number"]),
    Case("long zero", ["--long", "0"], lambda db, f: bot(db, long=0), ["0", "at least 1"]),
    Case("fee negative", ["--fee", "-0.01"], lambda db, f: bot(db, fee=-0.01), ["-0.01", "[0, 0.1)"]),
    Case("fee too high", ["--fee", "0.1"], lambda db, f: bot(db, fee=0.1), ["0.1", "[0, 0.1)"]),
    Case("fee text", ["--fee", "cheap"], lambda db, f: bot(db, fee="cheap"), ["'cheap'", "[0, 0.1)"]),
    Case("unknown exchange", ["--feed", "krakn:BTC/USD"], lambda db, f: open_feed("krakn:BTC/USD"),
         ["'krakn'", "Did you mean: kraken"]),
    Case("malformed symbol", ["--feed", "kraken:BTCUSD"], lambda db, f: open_feed("kraken:BTCUSD"),
         ["'BTCUSD'", "BASE/QUOTE"]),
    Case("unknown feed", ["--feed", "fancy"], lambda db, f: open_feed("fancy"),
         ["'fancy'", "replay", "random:SEED"]),
    Case("random seed text", ["--feed", "random:abc"], lambda db, f: open_feed("random:abc"),
         ["'random:abc'", "integer seed"]),
    Case("no such sample", ["--feed", "replay:DOGE/USD"], lambda db, f: open_feed("replay:DOGE/USD"),
         ["DOGE/USD", "BTC/USD", "CSV path"]),
    Case("bad bot name", ["--name", "my bot!"], lambda db, f: bot(db, name="my bot!"),
         ["'my bot!'", "letters, digits"]),
    Case("negative ticks", ["--ticks", "-3"], lambda db, f: run(db, -3), ["-3", "at least 0"]),
    Case("negative interval", ["--interval", "-1"], lambda db, f: bot(db, interval=-1),
         ["-1", ">= 0"]),
    Case("missing CSV", ["--feed", "replay:{missing.csv}"], lambda db, f: open_feed(f"replay:{f['missing.csv']}"),
         ["missing.csv", "does not exist"]),
    Case("CSV without close", ["--feed", "replay:{no_close.csv}"],
         lambda db, f: open_feed(f"replay:{f['no_close.csv']}"), ["no_close.csv", "'close'", "'price'"]),
    Case("CSV unsorted", ["--feed", "replay:{unsorted.csv}"],
         lambda db, f: open_feed(f"replay:{f['unsorted.csv']}"),
         ["unsorted.csv", "out-of-order", "strictly increasing"]),
    Case("CSV duplicate time", ["--feed", "replay:{duplicate.csv}"],
         lambda db, f: open_feed(f"replay:{f['duplicate.csv']}"),
         ["duplicate.csv", "duplicate timestamp", "strictly increasing"]),
    Case("CSV NaN row", ["--feed", "replay:{nan.csv}"], lambda db, f: open_feed(f"replay:{f['nan.csv']}"),
         ["nan.csv", "row 2", "finite number > 0"]),
    Case("CSV negative price", ["--feed", "replay:{negative.csv}"],
         lambda db, f: open_feed(f"replay:{f['negative.csv']}"), ["negative.csv", "-3", "> 0"]),
    Case("CSV empty", ["--feed", "replay:{empty.csv}"], lambda db, f: open_feed(f"replay:{f['empty.csv']}"),
         ["empty.csv", "empty", "'timestamp' and 'close'"]),
    Case("CSV three columns", ["--feed", "replay:{three_columns.csv}"],
         lambda db, f: open_feed(f"replay:{f['three_columns.csv']}"), ["three_columns.csv", "3 columns", "OHLCVT"]),
    Case("strategy name unknown", ["--strategy", "rsl"], lambda db, f: bot(db, strategy="rsl"),
         ["'rsl'", "sma, ema, rsi, bollinger", "Did you mean: rsi"]),
    Case("unknown strategy parameter", ["--strategy", "rsi", "--param", "perod=3"],
         lambda db, f: bot(db, strategy="rsi", params={"perod": 3}),
         ["'perod'", "period, lower, upper", "Did you mean: period"]),
    Case("strategy parameter text", ["--strategy", "rsi", "--param", "period=fast"],
         lambda db, f: bot(db, strategy="rsi", params={"period": "fast"}),
         ["period", "'fast'", "whole number"]),
    Case("strategy parameter not k=v", ["--param", "period"], lambda db, f: bot(db, params=["period"]),
         ["'period'", "KEY=VALUE"]),
    Case("strategy file missing", ["--strategy", "{missing.py}:Mine"],
         lambda db, f: bot(db, strategy=f"{f['missing.py']}:Mine"), ["missing.py", "does not exist"]),
    Case("strategy class missing", ["--strategy", "{user.py}:Momentun"],
         lambda db, f: bot(db, strategy=f"{f['user.py']}:Momentun"), ["'Momentun'", "Did you mean: Momentum"]),
    Case("strategy rules wrong shape", ["--strategy", "{user.py}:WrongShape"],
         lambda db, f: asyncio.run(Bot("replay", Store(db), strategy=f"{f['user.py']}:WrongShape",
                                       interval=0).run(max_ticks=5)),
         ["WrongShape.rules", "no 'exit' column"]),
    Case("resume with another strategy", ["--name", "keep", "--strategy", "rsi"],
         lambda db, f: asyncio.run(Bot("replay", Store(db), name="keep", strategy="rsi",
                                       interval=0).run(max_ticks=5)),
         ["'keep'", "strategy 'sma' (short=10, long=20) (now 'rsi'"]),
    Case("db folder missing", [], lambda db, f: Store(f["nofolder/x.sqlite"]),
         ["nofolder", "does not exist"], db="{nofolder/x.sqlite}"),
    Case("db unwritable", [], lambda db, f: Store("sqlite:////proc/jarvis.sqlite"),
         ["/proc/jarvis.sqlite"], db="sqlite:////proc/jarvis.sqlite"),
    Case("db not sqlite", [], lambda db, f: Store(f["notes.txt"]),
         ["notes.txt", "not a SQLite database", "untouched"], db="{notes.txt}"),
    Case("db url bad port", [], lambda db, f: Store("postgresql+psycopg://bob@localhost:port/db"),
         ["malformed database URL", "localhost:port", "postgresql+psycopg://"],
         db="postgresql+psycopg://bob@localhost:port/db"),
    Case("db url unknown scheme", [], lambda db, f: Store("nosuchdb://host/db"),
         ["nosuchdb", "sqlite:///"], db="nosuchdb://host/db"),
    Case("db url unsupported", [], lambda db, f: Store("oracle://scott@host/db"),
         ["oracle", "sqlite:///"], db="oracle://scott@host/db"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The reference database (a bot with 300 ticks and some trades) and the bad files."""
    root = tmp_path_factory.mktemp("bad_input")
    reference = root / "reference.sqlite"
    store = Store(reference)
    asyncio.run(Bot("replay", store, name="keep", interval=0).run(max_ticks=300))
    assert store.count_ticks("keep") == 300 and len(store.trades("keep")) > 0
    store.close()
    assert not Path(f"{reference}-wal").exists()  # checkpointed: the file is the whole state
    paths = {"reference": reference, "missing.csv": root / "missing.csv",
             "nofolder/x.sqlite": root / "nofolder" / "x.sqlite", "notes.txt": root / "notes.txt",
             "missing.py": root / "missing.py", "user.py": Path(__file__).parent / "user_strategies.py"}
    (root / "notes.txt").write_text("my trading notes, not a database\n" * 20)
    for name, text in CSVS.items():
        (root / name).write_text(text)
        paths[name] = root / name
    return {k: str(v) for k, v in paths.items()}


def _fill(arg: str, files: dict) -> str:
    for name, path in files.items():
        arg = arg.replace("{" + name + "}", path)
    return arg


def _digest(path: str) -> str | None:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if os.path.exists(path) else None


# Each case runs the real CLI entry point (``python -m jarvis_helpers``'s __main__) in its
# own process: a driver imports the package once, then forks one child per case, so the
# 35 cases cost one interpreter start instead of 35. A few cases (FULL) also run as
# completely separate ``python -m jarvis_helpers`` processes.
FORK_DRIVER = r"""
import io, json, os, runpy, sys, traceback
import jarvis_helpers.cli, pandas, sqlalchemy  # noqa: F401  (imported once, shared by forks)
jobs = json.load(sys.stdin)
results = []
for job in jobs:
    pid = os.fork()
    if pid == 0:
        out = os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(out, 1); os.dup2(err, 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
        sys.argv = ["jarvis"] + job["argv"]
        os.chdir(job["cwd"])
        code = 0
        try:
            runpy.run_module("jarvis_helpers", run_name="__main__", alter_sys=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    results.append(os.waitstatus_to_exitcode(status))
print(json.dumps(results))
"""
FULL = {"cash text", "short > long", "unknown exchange", "CSV unsorted", "db not sqlite",
        "db url bad port"}


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    before: dict
    after: dict


@pytest.fixture(scope="module")
def cli_results(files, tmp_path_factory):
    """Every case through the CLI (forked from one driver; FULL ones also from scratch)."""
    root = tmp_path_factory.mktemp("bad_cli")
    env = {**os.environ, "JARVIS_FEED": "", "JARVIS_DB": ""}
    jobs = []
    for i, case in enumerate(CASES):
        copy = root / f"case{i}.sqlite"
        shutil.copy(files["reference"], copy)
        db = _fill(case.db, files) if case.db else str(copy)
        argv = ["run", "--db", db, "--ticks", "5", *[_fill(a, files) for a in case.cli]]
        watched = [str(copy)] + ([files["notes.txt"]] if "notes.txt" in db else [])
        jobs.append({"id": case.id, "argv": argv, "watched": watched, "cwd": str(root),
                     "out": str(root / f"case{i}.out"), "err": str(root / f"case{i}.err")})
    before = {job["id"]: {p: _digest(p) for p in job["watched"]} for job in jobs}

    def full(job):
        return subprocess.run([sys.executable, "-m", "jarvis_helpers", *job["argv"]],
                              capture_output=True, text=True, timeout=120, cwd=root,
                              stdin=subprocess.DEVNULL, env=env)

    with ThreadPoolExecutor(max_workers=2) as pool:
        chosen = [j for j in jobs if j["id"] in FULL]
        separate = dict(zip([j["id"] for j in chosen], pool.map(full, chosen)))
        forked = subprocess.run([sys.executable, "-c", FORK_DRIVER], input=json.dumps(jobs),
                                capture_output=True, text=True, timeout=300, cwd=root, env=env)
    assert forked.returncode == 0, forked.stderr[-3000:]
    codes = json.loads(forked.stdout)
    results = {}
    for job, code in zip(jobs, codes):
        after = {p: _digest(p) for p in job["watched"]}
        results[job["id"]] = CliResult(code, Path(job["out"]).read_text(),
                                       Path(job["err"]).read_text(), before[job["id"]], after)
    for case_id, proc in separate.items():
        results[case_id + " (separate process)"] = CliResult(
            proc.returncode, proc.stdout, proc.stderr, {}, {})
    return results


def test_the_table_is_big_enough():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_python_api(case, files, tmp_path):
    db = tmp_path / "copy.sqlite"
    shutil.copy(files["reference"], db)
    watched = [str(db), files["notes.txt"]]
    before = {p: _digest(p) for p in watched}
    with pytest.raises(JarvisError) as info:
        case.api(str(db), files)
    message = str(info.value)
    assert "\n" not in message.strip(), message
    for word in case.must:
        assert word in message, f"{word!r} not in {message!r}"
    assert {p: _digest(p) for p in watched} == before
    assert not Path(files["nofolder/x.sqlite"]).parent.exists()


CLI_IDS = [c.id for c in CASES] + sorted(f"{i} (separate process)" for i in FULL)


@pytest.mark.parametrize("case_id", CLI_IDS)
def test_cli(case_id, cli_results):
    case = next(c for c in CASES if case_id.startswith(c.id))
    proc = cli_results[case_id]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("jarvis: error: ")
    for word in case.must:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert proc.after == proc.before  # the database (and a non-database --db file) is unchanged
