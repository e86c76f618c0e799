"""API keys and real orders. Paper trading is the default; nothing here runs unless asked.

Keys come only from the environment (``JARVIS_API_KEY``, ``JARVIS_API_SECRET``, optionally
``JARVIS_API_PASSWORD``) or from a ``.env`` file that git ignores. They are never printed,
logged, stored or shown: ``Credentials`` hides them in its repr, refuses to be pickled, and
a log filter masks them in ccxt's debug lines. Real orders need both an explicit
``confirm_real_money=True`` and keys; otherwise ``RealOrders`` refuses with a clear message.

>>> creds = Credentials("my-key-123", "bXktc2VjcmV0")
>>> creds
Credentials(api_key=***, secret=***)
>>> "my-key-123" in f"{creds} {creds!r}"
False
>>> RealOrders("kraken", "BTC/USD", credentials=creds)
Traceback (most recent call last):
...
jarvis_helpers.errors.ConfigError: real orders are off: JARVIS trades a paper account by default. To send real orders to 'kraken' with real money, pass confirm_real_money=True (and keep API keys in the environment or a git-ignored .env)
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from .errors import ConfigError
from .ticks import check_symbol

ENV_KEY = "JARVIS_API_KEY"
ENV_SECRET = "JARVIS_API_SECRET"
ENV_PASSWORD = "JARVIS_API_PASSWORD"
MASK = "***"


class Credentials:
    """An exchange API key and secret that never show themselves."""

    __slots__ = ("_key", "_secret", "_password", "source")

    def __init__(self, api_key: str, secret: str, password: str | None = None, *,
                 source: str = "arguments"):
        if not api_key or not secret:
            raise ConfigError(f"API credentials need both {ENV_KEY} and {ENV_SECRET}")
        self._key, self._secret, self._password = str(api_key), str(secret), password
        self.source = source

    def __repr__(self) -> str:
        return f"Credentials(api_key={MASK}, secret={MASK})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Credentials cannot be pickled or copied to disk")

    def __eq__(self, other) -> bool:
        return isinstance(other, Credentials) and (self._key, self._secret, self._password) == (
            other._key, other._secret, other._password)

    __hash__ = None

    def ccxt_config(self) -> dict:
        """The ccxt options that carry the keys (hand them to the exchange, nowhere else)."""
        config = {"apiKey": self._key, "secret": self._secret}
        if self._password:
            config["password"] = self._password
        return config

    def mask(self, text: str) -> str:
        """``text`` with every key, secret and password replaced by ***."""
        for value in (self._key, self._secret, self._password):
            if value:
                text = text.replace(value, MASK)
        return text


def load_credentials(env_file: str | os.PathLike | None = ".env",
                     environ: dict | None = None) -> Credentials | None:
    """Keys from the environment, else from ``env_file`` (a git-ignored ``.env``), else None.

    A ``.env`` inside a git work tree that git does not ignore is refused: keys must
    never be committed. The file is read without changing ``os.environ``.
    """
    environ = os.environ if environ is None else environ
    key, secret = environ.get(ENV_KEY), environ.get(ENV_SECRET)
    if key and secret:
        return Credentials(key, secret, environ.get(ENV_PASSWORD), source="environment")
    if env_file is None:
        return None
    path = Path(env_file)
    if not path.is_file():
        return None
    _check_git_ignored(path)
    from dotenv import dotenv_values

    values = dotenv_values(path)
    key, secret = values.get(ENV_KEY), values.get(ENV_SECRET)
    if key and secret:
        return Credentials(key, secret, values.get(ENV_PASSWORD), source=str(path))
    return None


def _check_git_ignored(path: Path) -> None:
    folder = path.resolve().parent
    try:
        inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=folder,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return  # no git here: nothing could commit the file
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return
    ignored = subprocess.run(["git", "check-ignore", "-q", path.name], cwd=folder,
                             capture_output=True, timeout=10)
    if ignored.returncode != 0:
        raise ConfigError(
            f"{str(path)!r} holds API keys but git does not ignore it: add '.env' to "
            ".gitignore first (keys must never be committed), or set them in the environment"
        )


class _MaskSecrets(logging.Filter):
    """Masks the keys in records of the loggers it is attached to (ccxt logs headers)."""

    def __init__(self, credentials: Credentials):
        super().__init__()
        self.credentials = credentials

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.credentials.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_CCXT_LOGGERS = ("ccxt", "ccxt.base.exchange", "ccxt.async_support.base.exchange")


class RealOrders:
    """Routes the bot's fills to a real exchange account. Off unless explicitly confirmed.

    ``RealOrders("kraken", "BTC/USD", confirm_real_money=True)`` needs keys from the
    environment or a git-ignored ``.env`` (or ``credentials=``); ``await orders.place(trade)``
    sends a market order for the trade's side and units.
    """

    def __init__(self, exchange, symbol: str, *, confirm_real_money: bool = False,
                 credentials: Credentials | None = None, env_file=".env"):
        name = exchange if isinstance(exchange, str) else getattr(exchange, "id", "exchange")
        if confirm_real_money is not True:
            raise ConfigError(
                f"real orders are off: JARVIS trades a paper account by default. To send real "
                f"orders to {name!r} with real money, pass confirm_real_money=True (and keep API "
                "keys in the environment or a git-ignored .env)"
            )
        self.symbol = check_symbol(symbol)
        creds = credentials if credentials is not None else load_credentials(env_file)
        if creds is None:
            raise ConfigError(
                f"real orders to {name!r} need API keys: set {ENV_KEY} and {ENV_SECRET} in the "
                "environment or in a git-ignored .env file (never in code or a notebook)"
            )
        self._credentials = creds
        if isinstance(exchange, str):
            from .feeds import _build_exchange

            self.exchange = _build_exchange(exchange, creds.ccxt_config())
        else:
            self.exchange = exchange
            for option, value in creds.ccxt_config().items():
                setattr(self.exchange, option, value)
        self.exchange_id = getattr(self.exchange, "id", name)
        self._filter = _MaskSecrets(creds)
        for logger in _CCXT_LOGGERS:
            logging.getLogger(logger).addFilter(self._filter)

    async def place(self, trade) -> dict:
        """Send a market order for ``trade`` (a paper Trade); returns ccxt's order dict.

        An exchange error is re-raised with any key masked out of its message.
        """
        try:
            return await self.exchange.create_order(self.symbol, "market", trade.side, trade.units)
        except Exception as exc:
            text = self._credentials.mask(str(exc))
            if text != str(exc):
                raise type(exc)(text) from None
            raise

    async def close(self) -> None:
        for logger in _CCXT_LOGGERS:
            logging.getLogger(logger).removeFilter(self._filter)
        await self.exchange.close()

    def __repr__(self) -> str:
        return f"RealOrders({self.exchange_id!r}, {self.symbol!r}, keys={MASK})"
