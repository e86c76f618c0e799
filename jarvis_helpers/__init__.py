"""JARVIS helpers: the trading bot the workbook builds, as a small package.

Nothing runs at import time: no database is opened, no network is touched.
"""

from .account import PaperAccount

# Imported eagerly (it needs nothing heavier than signals): a lazy import would leave the
# package attribute `backtest` pointing at the submodule once anything imports it.
from .backtest import backtest, sweep, sweep_heatmap
from .bot import Bot
from .data import load_sample
from .download import download
from .errors import FeedExhausted
from .exercises import check, exercise
from .feeds import ExchangeFeed, RandomWalkFeed, ReplayFeed, open_feed
from .settings import Settings
from .signals import generate_signals
from .store import Store
from .strategy import Strategy, StrategyError, load_strategy, strategies
from .strategy_check import check_strategy
from .verify import verify

__all__ = [
    "Bot", "Store", "PaperAccount", "ExchangeFeed", "ReplayFeed", "RandomWalkFeed", "open_feed",
    "generate_signals", "backtest", "load_sample", "Dashboard", "BotControls", "FeedExhausted",
    "Strategy", "StrategyError", "strategies", "load_strategy", "sweep", "sweep_heatmap", "check_strategy",
    "download", "verify", "Settings", "check", "exercise", "extension", "Leaderboard",
]


def __getattr__(name):
    # Heavier pieces load on first use, so `import jarvis_helpers` stays light.
    if name == "Dashboard":
        from .dashboard import Dashboard
        return Dashboard
    if name == "BotControls":
        from .controls import BotControls
        return BotControls
    if name == "extension":
        from .dashboard import extension
        return extension
    if name == "Leaderboard":
        from .leaderboard import Leaderboard
        return Leaderboard
    raise AttributeError(f"module 'jarvis_helpers' has no attribute {name!r}")
