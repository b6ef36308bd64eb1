"""The largest micro-batch and sequence a training step fits in, from as few traced steps as convexity allows."""

from __future__ import annotations

from collections.abc import Callable


def largest(phases_at: Callable[[int], dict[str, int]], usable: int, low: int, start: int, high: int) -> int | None:
    """The largest value in [low, high] whose step fits ``usable``; None if ``low`` does not. ``start`` is the
    request's own value (already traced).

    Each phase's bytes are the largest of affine figures of the value (the traced tensors carry the
    micro-batch and the sequence; the model states carry neither): convex. The line through two traces,
    phase by phase, never lies above it further out, so where the lines cross ``usable`` is at or beyond the
    answer: a trace there that fits is the answer. Where it does not fit, the chord between a value that
    fits and one that does not crosses ``usable`` at or below the answer (convexity again): traced there and
    one above, until the one above does not fit."""
    first = phases_at(start)
    if max(first.values()) > usable:
        if start == low or max(phases_at(low).values()) > usable:
            return None
        return _refine(phases_at, usable, low, start)
    if start >= high:
        return start
    nxt = min(high, 2 * start)
    second = phases_at(nxt)
    best = high
    for name, at_start in first.items():
        slope = (second[name] - at_start) / (nxt - start)
        if slope > 0:
            best = min(best, start + int((usable - at_start) / slope))
    best = max(start, best)
    if best == start or max(phases_at(best).values()) <= usable:
        return best
    return _refine(phases_at, usable, start, best)


def _refine(phases_at: Callable[[int], dict[str, int]], usable: int, good: int, bad: int) -> int:
    """The largest value that fits between ``good`` (fits) and ``bad`` (does not), for a convex peak."""
    peak = lambda x: max(phases_at(x).values())  # noqa: E731
    at_good, at_bad = peak(good), peak(bad)
    while bad - good > 1:
        chord = good + int((usable - at_good) * (bad - good) / max(1, at_bad - at_good))
        x = min(bad - 1, max(good, chord))
        at_x = peak(x)
        if at_x > usable:  # not convex after all (eager attention's seq² scores): halve
            bad, at_bad = x, at_x
            continue
        if x + 1 >= bad or peak(x + 1) > usable:
            return x
        good, at_good = x + 1, peak(x + 1)
    return good
