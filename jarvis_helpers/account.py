"""The paper account and the one fill rule (the live bot and the backtest both use it).

A buy spends all cash with the fee included: ``units = cash / (close * (1 + fee))``;
a sell closes the whole position: ``cash += units * close * (1 - fee)``. Units are
fractional. The account's balances are derived from its trade ledger, so an account
rebuilt from the stored trades always agrees with history.

>>> acct = PaperAccount(cash=10_000, fee=0.001)
>>> buy = acct.fill(+1, "BTC/USD", "2020-01-01", 100.0)
>>> round(buy.units, 6), acct.cash, round(acct.position, 6)
(99.9001, 0.0, 99.9001)
>>> sell = acct.fill(-1, "BTC/USD", "2020-01-02", 110.0)
>>> round(acct.cash, 2), acct.position, acct.trades
(10978.02, 0.0, 2)
>>> PaperAccount.from_ledger(10_000, 0.001, [buy, sell]).cash == acct.cash
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pandas as pd

from .errors import ConfigError
from .ticks import to_utc

DEFAULT_FEE = 0.0026
"""Kraken's classic taker fee for small accounts: 0.26 % of the notional of every fill."""


def check_cash(cash) -> float:
    """Initial cash must be a finite number > 0.

    >>> check_cash("lots")
    Traceback (most recent call last):
    ...
    jarvis_helpers.errors.ConfigError: cash 'lots' is not a number: give the starting cash in quote currency, a number > 0 (for example 10000)
    """
    if isinstance(cash, bool):
        cash = "True" if cash else "False"
    try:
        value = float(cash)
    except (TypeError, ValueError):
        raise ConfigError(
            f"cash {cash!r} is not a number: give the starting cash in quote currency, "
            "a number > 0 (for example 10000)"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(
            f"cash {cash!r} must be a finite number > 0 (for example 10000)"
        )
    return value


def check_fee(fee) -> float:
    """A fee rate in [0, 0.1): 0.0026 means 0.26 % of each fill's notional."""
    try:
        value = float(fee)
    except (TypeError, ValueError):
        raise ConfigError(
            f"fee {fee!r} is not a number: give a rate in [0, 0.1), for example 0.0026 for 0.26 %"
        ) from None
    if isinstance(fee, bool) or not (math.isfinite(value) and 0 <= value < 0.1):
        raise ConfigError(
            f"fee {fee!r} is outside [0, 0.1): give a rate, for example 0.0026 for 0.26 %"
        )
    return value


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill: ``side`` is 'buy' or 'sell'; ``fee`` is paid in quote currency."""

    symbol: str
    timestamp: pd.Timestamp
    side: str
    price: float
    units: float
    fee: float

    @property
    def notional(self) -> float:
        return self.units * self.price

    def as_dict(self) -> dict:
        return asdict(self)


def fill(side: str, cash: float, position: float, price: float, fee: float):
    """The fill rule. Returns ``(units, fee_paid, cash_after, position_after)``.

    >>> fill("buy", 1000.0, 0.0, 10.0, 0.0)
    (100.0, 0.0, 0.0, 100.0)
    >>> fill("sell", 0.0, 100.0, 12.0, 0.0)
    (100.0, 0.0, 1200.0, 0.0)
    """
    if side == "buy":
        units = cash / (price * (1.0 + fee))
        return units, units * price * fee, 0.0, position + units
    if side == "sell":
        units = position
        return units, units * price * fee, cash + units * price * (1.0 - fee), 0.0
    raise ValueError(f"side {side!r}: expected 'buy' or 'sell'")


class PaperAccount:
    """Cash and a position in one symbol, changed only by fills. No real orders, ever."""

    def __init__(self, cash=10_000, fee=DEFAULT_FEE):
        self.initial_cash = check_cash(cash)
        self.fee = check_fee(fee)
        self.cash = self.initial_cash
        self.position = 0.0
        self.trades = 0
        self.fees_paid = 0.0
        self.last_price = math.nan

    @classmethod
    def from_ledger(cls, cash, fee, trades) -> "PaperAccount":
        """Rebuild an account by replaying its stored trades in order."""
        acct = cls(cash, fee)
        for trade in trades:
            acct.apply(trade)
        return acct

    def apply(self, trade: Trade) -> None:
        """Apply a recorded trade (the same arithmetic as when it was made)."""
        _, paid, self.cash, self.position = fill(
            trade.side, self.cash, self.position, trade.price, self.fee
        )
        self.fees_paid += paid
        self.trades += 1
        self.last_price = trade.price

    def fill(self, entry_exit: int, symbol: str, timestamp, price: float) -> Trade | None:
        """Act on a signal change at ``price``: +1 buys with all cash, -1 sells everything.

        Returns the Trade, or None when there is nothing to do (no change, no cash to
        buy with, no position to sell).
        """
        self.last_price = float(price)
        if entry_exit > 0 and self.cash > 0:
            side = "buy"
        elif entry_exit < 0 and self.position > 0:
            side = "sell"
        else:
            return None
        units, paid, cash, position = fill(side, self.cash, self.position, float(price), self.fee)
        trade = Trade(symbol, to_utc(timestamp), side, float(price), units, paid)
        self.cash, self.position = cash, position
        self.fees_paid += paid
        self.trades += 1
        return trade

    def equity(self, price: float | None = None) -> float:
        """Cash plus the position valued at ``price`` (default: the last price seen)."""
        price = self.last_price if price is None else price
        if self.position == 0:
            return self.cash
        return self.cash + self.position * price

    def summary(self, price: float | None = None) -> dict:
        return {
            "trades": self.trades,
            "cash": self.cash,
            "position": self.position,
            "equity": self.equity(price),
        }

    def __repr__(self) -> str:
        return (
            f"PaperAccount(cash={self.cash:.2f}, position={self.position:.8f}, "
            f"trades={self.trades}, fee={self.fee})"
        )
