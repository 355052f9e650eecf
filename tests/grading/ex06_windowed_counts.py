"""Mutants and alternative correct answers for ex06_windowed_counts (Python source)."""

_RIGHT = """
def windowed_counts(events, size, grace):
    counts, late = {}, []
    stream_time = None
    for key, t in events:
        stream_time = t if stream_time is None else max(stream_time, t)
        start = t - t % size
        if start + size <= stream_time - grace:
            late.append((key, t))
        else:
            counts[(key, start)] = counts.get((key, start), 0) + 1
    return counts, late
"""

MUTANTS = {
    # Strictly before instead of at or before: a window closes one millisecond too late.
    "closes a millisecond late": _RIGHT.replace(
        "start + size <= stream_time - grace", "start + size < stream_time - grace"
    ),
    # The window's last millisecond taken as its end: a window closes a millisecond early.
    "closes a millisecond early": _RIGHT.replace(
        "start + size <= stream_time - grace", "start + size - 1 <= stream_time - grace"
    ),
    # Lateness of the record itself (t < stream time - grace), not of its window.
    "late by the event's own time": _RIGHT.replace(
        "start + size <= stream_time - grace", "t < stream_time - grace"
    ),
    # Stream time is the last timestamp, so it goes back.
    "stream time goes back": _RIGHT.replace(
        "stream_time = t if stream_time is None else max(stream_time, t)", "stream_time = t"
    ),
    # Late events are counted as well as set aside.
    "counts late events too": _RIGHT.replace(
        "            late.append((key, t))\n        else:\n            counts",
        "            late.append((key, t))\n        counts",
    ),
    # Reads the stream twice: the maximum first, then the counts (a one-pass stream is empty).
    "two passes": _RIGHT.replace(
        "    counts, late = {}, []\n",
        "    top = max((t for _, t in events), default=0)\n    counts, late = {}, []\n",
    ),
}

ALTERNATIVES = {
    # The package's own StreamTime and windows.
    "with brokerlab's StreamTime": """
from brokerlab.watermark import StreamTime

def windowed_counts(events, size, grace):
    clock = StreamTime(grace=grace)
    counts, late = {}, []
    for key, t in events:
        clock.observe(t)
        start = (t // size) * size
        if clock.closed(start + size - 1):
            late.append((key, t))
        else:
            counts[key, start] = counts.get((key, start), 0) + 1
    return counts, late
""",
    # A Counter, and the close time computed once per event.
    "Counter and close time": """
from collections import Counter

def windowed_counts(events, size, grace):
    counts = Counter()
    late = []
    seen = float("-inf")
    for key, timestamp in events:
        seen = max(seen, timestamp)
        close_time = seen - grace
        window_end = timestamp // size * size + size
        if window_end > close_time:
            counts[(key, window_end - size)] += 1
        else:
            late.append((key, timestamp))
    return dict(counts), late
""",
}
