"""Secrets: API keys only from the environment or a git-ignored .env, never shown anywhere
(logs, database, CLI output, exception messages, reprs, notebook outputs). Paper trading
is the default; real orders need an explicit opt-in and keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import ccxt
import pandas as pd
import pytest

from jarvis_helpers import Bot, ExchangeFeed, Store
from jarvis_helpers.account import Trade
from jarvis_helpers.errors import ConfigError
from jarvis_helpers.secrets import ENV_KEY, ENV_SECRET, Credentials, RealOrders, load_credentials
from recorded_exchange import RecordedKraken

KEY = "JKEY-7f3a9c-DO-NOT-LEAK"
SECRET = "c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"  # base64, as Kraken's secrets are
SECRETS = (KEY, SECRET, "secret-that-must-never-leak")
ADD_ORDER = json.dumps({"error": [], "result": {"descr": {"order": "buy 0.5 XBTUSD @ market"},
                                                "txid": ["OQCLML-BW3P3-BUCMWZ"]}})
TRADE = Trade("BTC/USD", pd.Timestamp("2024-01-01", tz="UTC"), "buy", 42_000.0, 0.5, 54.6)


def assert_clean(text: str, where: str):
    for value in SECRETS:
        assert value not in text, f"a secret appears in {where}"


def git_repo(path: Path, ignore_env: bool) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if ignore_env:
        (path / ".gitignore").write_text(".env\n")
    (path / ".env").write_text(f"{ENV_KEY}={KEY}\n{ENV_SECRET}={SECRET}\n")
    return path / ".env"


class SigningKraken(RecordedKraken):
    """Records the headers ccxt signed each request with."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.headers: list[dict] = []

    async def fetch(self, url, method="GET", headers=None, body=None):
        self.headers.append(dict(headers or {}))
        return await super().fetch(url, method, headers, body)


# -- where keys come from ----------------------------------------------------------------

def test_keys_from_the_environment():
    creds = load_credentials(None, environ={ENV_KEY: KEY, ENV_SECRET: SECRET})
    assert creds == Credentials(KEY, SECRET) and creds.source == "environment"
    assert load_credentials(None, environ={ENV_KEY: KEY}) is None  # both or nothing


def test_keys_from_a_git_ignored_dotenv(tmp_path):
    env_file = git_repo(tmp_path, ignore_env=True)
    before = dict(os.environ)
    creds = load_credentials(env_file, environ={})
    assert creds == Credentials(KEY, SECRET) and creds.source == str(env_file)
    assert dict(os.environ) == before  # read, not exported


def test_a_dotenv_that_git_would_commit_is_refused(tmp_path):
    env_file = git_repo(tmp_path, ignore_env=False)
    with pytest.raises(ConfigError, match=r"git does not ignore it: add '\.env' to \.gitignore") as info:
        load_credentials(env_file, environ={})
    assert_clean(str(info.value), "the refusal")


def test_the_project_ignores_dotenv():
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=root).returncode == 0


# -- never shown -----------------------------------------------------------------------------

def test_credentials_never_show_themselves():
    creds = Credentials(KEY, SECRET, "secret-that-must-never-leak")
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds]),
                 repr({"c": creds})):
        assert_clean(text, "a repr")
    assert not hasattr(creds, "__dict__")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(creds)


def test_real_orders_are_refused_without_the_opt_in_even_with_keys():
    with pytest.raises(ConfigError, match="real orders are off.*paper account by default"
                       ".*confirm_real_money=True") as info:
        RealOrders("kraken", "BTC/USD", credentials=Credentials(KEY, SECRET))
    assert_clean(str(info.value), "the refusal")
    with pytest.raises(ConfigError, match="real orders are off"):
        RealOrders("kraken", "BTC/USD", confirm_real_money="yes", credentials=Credentials(KEY, SECRET))


def test_real_orders_are_refused_without_keys(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(ConfigError, match="need API keys: set JARVIS_API_KEY and JARVIS_API_SECRET"):
        RealOrders("kraken", "BTC/USD", confirm_real_money=True)


def test_paper_trading_is_the_default(tmp_path):
    """A bot with keys in its environment still only trades its paper account."""
    exchange = SigningKraken(config={"rateLimit": 1})
    bot = Bot(ExchangeFeed(exchange, "BTC/USD"), Store(tmp_path / "p.sqlite"), interval=0)
    asyncio.run(bot.run(max_ticks=60))
    asyncio.run(bot.stop())
    assert bot.account.trades > 0
    assert all("/private/" not in url for _, url in exchange.requests)  # public prices only
    assert all(not any(h.lower().startswith("api-") for h in hdr) for hdr in exchange.headers)
    bot.store.close()


def test_opted_in_orders_are_signed_and_errors_and_logs_stay_clean(caplog):
    caplog.set_level(logging.DEBUG)
    exchange = SigningKraken(config={"rateLimit": 1})
    answers = iter([(200, ADD_ORDER), (200, json.dumps({"error": ["EAPI:Invalid key"]}))])
    exchange.faults = lambda n, url: next(answers) if "AddOrder" in url else None
    orders = RealOrders(exchange, "BTC/USD", confirm_real_money=True,
                        credentials=Credentials(KEY, SECRET))
    assert_clean(repr(orders), "RealOrders' repr")

    async def go():
        placed = await orders.place(TRADE)
        with pytest.raises(ccxt.AuthenticationError) as info:
            await orders.place(TRADE)
        # ccxt logs every request's headers (API-Key among them) at DEBUG: masked
        logging.getLogger("ccxt.async_support.base.exchange").debug(
            "%s %s, Request: %s %s", "POST", exchange.requests[-1][1], exchange.headers[-1], "")
        await orders.close()
        return placed, info.value

    placed, error = asyncio.run(go())
    assert placed["id"] == "OQCLML-BW3P3-BUCMWZ" and placed["side"] == "buy"
    signed = exchange.headers[-1]
    assert signed.get("API-Key") == KEY and signed.get("API-Sign")  # the keys were used ...
    assert_clean(str(error), "the exception message")  # ... and shown nowhere
    assert_clean(caplog.text, "the logs")
    assert "API-Key" in caplog.text and "***" in caplog.text


def test_keys_in_the_environment_never_reach_the_cli_output_or_the_database(tmp_path):
    env_file = git_repo(tmp_path, ignore_env=True)
    db = tmp_path / "keys.sqlite"
    env = {**os.environ, ENV_KEY: KEY, ENV_SECRET: SECRET, "JARVIS_FEED": "", "JARVIS_DB": ""}
    runs = [["run", "--feed", "replay", "--db", str(db), "--ticks", "300"],
            ["run", "--feed", "replay", "--db", str(db), "--ticks", "5", "--cash", "-1"],
            ["run", "--feed", "kraken:NOPE", "--db", str(db)]]
    for args in runs:
        proc = subprocess.run([sys.executable, "-m", "jarvis_helpers", *args], capture_output=True,
                              text=True, timeout=120, cwd=env_file.parent, env=env)
        assert_clean(proc.stdout + proc.stderr, f"the output of jarvis {' '.join(args)}")
    data = b"".join(p.read_bytes() for p in tmp_path.glob("keys.sqlite*"))
    assert Store(db).count_ticks() == 300
    for value in SECRETS:
        assert value.encode() not in data


def test_notebook_outputs_stay_clean(tmp_path):
    """A notebook cell that loads the keys and shows everything it can shows no key."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    env_file = git_repo(tmp_path, ignore_env=True)
    cells = [
        "from jarvis_helpers.secrets import load_credentials, RealOrders\n"
        "creds = load_credentials()\ncreds",
        "print(creds, repr(creds), vars(load_credentials.__globals__['Credentials']).keys())",
        "try:\n    RealOrders('kraken', 'BTC/USD', credentials=creds)\n"
        "except Exception as exc:\n    print(exc)",
        "RealOrders('kraken', 'BTC/USD', confirm_real_money=True, credentials=creds)",
        "raise RuntimeError(str(creds))",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(env_file.parent)}})
    client.execute()
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    assert "Credentials(api_key=***, secret=***)" in outputs  # the cells really ran
    assert "RealOrders('kraken', 'BTC/USD', keys=***)" in outputs
    assert_clean(outputs, "a notebook output")
