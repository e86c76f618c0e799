"""Strategies written the way a student would, outside the package: used by the tests
through the Python API and through the CLI (``--strategy tests/user_strategies.py:Momentum``)."""

import pandas as pd

from jarvis_helpers import Strategy


class Momentum(Strategy):
    """Buy when the close is above its close ``lookback`` bars ago by more than
    ``threshold``; sell when it is below it. Plain pandas."""

    lookback: int = 24
    threshold: float = 0.01
    overlay = ()

    @property
    def warmup(self):
        return self.lookback + 1

    def rules(self, candles):
        change = candles["close"] / candles["close"].shift(self.lookback) - 1
        return pd.DataFrame({"momentum": change, "enter": change > self.threshold,
                             "exit": change < 0}, index=candles.index)


class Explodes(Strategy):
    """Raises on any history holding the bar of 2018-10-03 00:00 (bar 48 of the shipped
    BTC/USD sample): a user's bug that shows only on some data."""

    warmup = 5

    def rules(self, candles):
        if pd.Timestamp("2018-10-03", tz="UTC") in candles.index:
            raise KeyError("volume_ma")
        flat = candles["close"] > 0
        return pd.DataFrame({"enter": flat, "exit": ~flat}, index=candles.index)


class WrongShape(Strategy):
    """Forgets the exit column."""

    warmup = 3

    def rules(self, candles):
        return pd.DataFrame({"enter": candles["close"] > 0}, index=candles.index)
