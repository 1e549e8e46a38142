"""A trained network's inference latency, ``predict_ms``: milliseconds to label 1,000 samples on
one thread, measured in the worker on the dev set right after training.

A satisficing metric ([search] constraints such as ``"predict_ms <= 1.0"``): the time of
``Network.predict`` on ``min(1000, dev)`` dev samples, the best of ``REPEATS`` timings (the
least disturbed by other processes), scaled to 1,000 samples. One BLAS thread whatever the
trial's ``cpus_per_trial``, so trials are compared on the same footing; a very fast network is
timed over several calls (at least ``MIN_TIMING_S`` a timing) so the clock's resolution does
not decide. Machine load still moves it: compare trials of one search, on one machine.
"""

from __future__ import annotations

import time
from typing import Any

SAMPLES = 1000  # predict_ms is per this many samples
REPEATS = 5  # timings; the fastest counts (the least disturbed by other processes)
MIN_TIMING_S = 0.005  # a timing lasts at least this long (several calls when one is faster)
MAX_CALLS = 1024


def predict_ms(network: Any, X: Any) -> float | None:
    """Milliseconds for ``network.predict`` to label 1,000 of ``X``'s samples (columns) on one
    thread, or None without samples."""
    from threadpoolctl import threadpool_limits

    m = min(SAMPLES, int(X.shape[1]))
    if m == 0:
        return None
    X = X[:, :m]
    with threadpool_limits(limits=1):
        network.predict(X)  # warm: first-call allocations are not the network's speed
        calls = 1
        while True:
            took = _timed(network, X, calls)
            if took >= MIN_TIMING_S or calls >= MAX_CALLS:
                break
            calls *= 2
        best = min([took, *(_timed(network, X, calls) for _ in range(REPEATS - 1))])
    return 1000.0 * best / calls * (SAMPLES / m)


def _timed(network: Any, X: Any, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        network.predict(X)
    return time.perf_counter() - start
