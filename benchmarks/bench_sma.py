"""Time the exact rolling mean beside np.convolve and pandas' rolling().mean(), in one run.

    .venv/bin/python benchmarks/bench_sma.py [--bars 1000000] [--window 20] [--repeat 5]

``jarvis_helpers.signals.rolling_mean`` gives every window exactly ``math.fsum(w) / window``
(the same bits on every CPU); np.convolve (the former implementation) and pandas sum in
floating point, so their last bit depends on the order of the additions and on the CPU's
SIMD kernels. Times are the best of ``--repeat`` runs on the same seeded random walk; the
last column counts the means that differ from the exact ones (checked against math.fsum
on a sample of windows).
"""

from __future__ import annotations

import argparse
import math
import platform

import numpy as np
import pandas as pd
from bench_backtest import best  # this folder: the script's own, first on sys.path

from jarvis_helpers.signals import rolling_mean


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(7)
    prices = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, args.bars)))
    w = args.window

    def convolve():
        out = np.full(len(prices), np.nan)
        out[w - 1:] = np.convolve(prices, np.ones(w), "valid") / w
        return out

    rows = [
        ("jarvis rolling_mean (exact)", lambda: rolling_mean(prices, w)),
        ("np.convolve / window", convolve),
        ("pandas rolling().mean()", lambda: pd.Series(prices).rolling(w).mean().to_numpy()),
    ]
    results = [(name, *best(fn, args.repeat)) for name, fn in rows]
    exact = results[0][2]
    sample = rng.choice(np.arange(w - 1, len(prices)), size=min(20_000, len(prices) - w + 1), replace=False)
    fsum_means = np.array([math.fsum(prices[i + 1 - w:i + 1]) / w for i in sample])
    assert np.array_equal(exact[sample], fsum_means), "rolling_mean is not math.fsum / window"
    print(f"{args.bars:,} bars, window {w}, best of {args.repeat}; "
          f"{platform.machine()} {platform.processor() or ''} numpy {np.__version__}, pandas {pd.__version__}")
    print(f"{'':30s} {'ms':>8s}  {'means differing from exact':>26s}")
    for name, seconds, out in results:
        differ = int(np.sum((out != exact) & ~(np.isnan(out) & np.isnan(exact))))
        print(f"{name:30s} {seconds * 1e3:8.1f}  {differ:>26,d}")


if __name__ == "__main__":
    main()
