"""The paper account: the fill rule, fees, fractional units, balances derived from the ledger."""

import math

import pytest

from jarvis_helpers import PaperAccount
from jarvis_helpers.errors import ConfigError


def test_all_in_buy_includes_the_fee_and_sell_closes_everything():
    acct = PaperAccount(cash=10_000, fee=0.01)
    buy = acct.fill(+1, "BTC/USD", "2024-01-01", 50_000.0)
    assert buy.side == "buy"
    assert buy.units == pytest.approx(10_000 / (50_000 * 1.01))
    assert buy.units < 1  # fractional: the lesson's sizing bought 0 units here (defect 12)
    assert buy.fee == pytest.approx(buy.units * 50_000 * 0.01)
    assert buy.units * 50_000 + buy.fee == pytest.approx(10_000)
    assert acct.cash == 0.0
    sell = acct.fill(-1, "BTC/USD", "2024-01-02", 55_000.0)
    assert sell.units == buy.units and acct.position == 0.0
    assert acct.cash == pytest.approx(buy.units * 55_000 * 0.99)
    assert acct.trades == 2


def test_nothing_to_do_gives_no_trade():
    acct = PaperAccount(1_000, 0.0)
    assert acct.fill(-1, "BTC/USD", "2024-01-01", 10.0) is None  # nothing to sell
    assert acct.fill(0, "BTC/USD", "2024-01-01", 10.0) is None
    acct.fill(+1, "BTC/USD", "2024-01-01", 10.0)
    assert acct.fill(+1, "BTC/USD", "2024-01-02", 10.0) is None  # no cash left


def test_balances_are_derived_from_the_ledger_exactly():
    acct = PaperAccount(10_000, 0.0026)
    ledger = []
    for i, price in enumerate([100.0, 120.0, 90.0, 95.5, 101.25, 99.0, 130.0]):
        trade = acct.fill(+1 if i % 2 == 0 else -1, "BTC/USD", f"2024-01-0{i + 1}", price)
        ledger.append(trade)
    again = PaperAccount.from_ledger(10_000, 0.0026, ledger)
    assert (again.cash, again.position, again.trades) == (acct.cash, acct.position, acct.trades)
    assert again.fees_paid == pytest.approx(acct.fees_paid)


def test_equity_values_the_position_at_the_price():
    acct = PaperAccount(1_000, 0.0)
    acct.fill(+1, "BTC/USD", "2024-01-01", 10.0)
    assert acct.equity(12.0) == pytest.approx(1_200.0)
    assert acct.summary(12.0)["equity"] == pytest.approx(1_200.0)


@pytest.mark.parametrize("cash", [None, 0, -1, "abc", math.nan, math.inf, True])
def test_initial_cash_is_validated(cash):
    with pytest.raises(ConfigError, match="cash"):
        PaperAccount(cash=cash)


@pytest.mark.parametrize("fee", [-0.001, 0.1, 1, "x", math.nan])
def test_fee_is_validated(fee):
    with pytest.raises(ConfigError, match=r"fee .*0\.1"):
        PaperAccount(fee=fee)
