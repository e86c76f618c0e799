"""The project's exceptions: one family, so callers (the CLI, the UI) can tell a user's
mistake from a bug.

>>> issubclass(ConfigError, ValueError) and issubclass(ConfigError, JarvisError)
True
"""

from __future__ import annotations

import difflib


class JarvisError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(JarvisError, ValueError):
    """A bad value from the user: the message names it and what would be accepted."""


class BadTick(JarvisError, ValueError):
    """A price or time that must not be stored (NaN, negative, missing...)."""


class FeedExhausted(JarvisError):
    """A finite feed (a replay) has no more ticks."""


class StoreError(JarvisError):
    """The database cannot be opened or used; the message says what to do."""


def did_you_mean(value: str, choices, n: int = 3) -> str:
    """Return ' Did you mean: a, b?' for the closest choices, or ''.

    >>> did_you_mean("krakn", ["kraken", "binance", "bitmex"])
    ' Did you mean: kraken?'
    >>> did_you_mean("zzz", ["kraken"])
    ''
    """
    choices = list(choices)
    lowered = {str(c).lower(): c for c in choices}
    close = difflib.get_close_matches(str(value).lower(), list(lowered), n=n, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean: " + ", ".join(str(lowered[c]) for c in close) + "?"
