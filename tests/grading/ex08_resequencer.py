"""Mutants and alternative correct answers for ex08_resequencer (Python source)."""

_RIGHT = """
class Resequencer:
    def __init__(self):
        self.next = {}
        self.held = {}

    def push(self, key, seq, payload):
        expected = self.next.get(key, 1)
        held = self.held.setdefault(key, {})
        if seq < expected or seq in held:
            return []
        if seq > expected:
            held[seq] = payload
            return []
        out = [(key, seq, payload)]
        expected += 1
        while expected in held:
            out.append((key, expected, held.pop(expected)))
            expected += 1
        self.next[key] = expected
        return out

    def pending(self):
        return sum(len(h) for h in self.held.values())
"""

MUTANTS = {
    # Remembers every released seq in a set: right answers, but memory grows for ever.
    "a set of everything seen": """
class Resequencer:
    def __init__(self):
        self.seen = set()
        self.next = {}
        self.held = {}

    def push(self, key, seq, payload):
        if (key, seq) in self.seen:
            return []
        self.seen.add((key, seq))
        expected = self.next.get(key, 1)
        if seq != expected:
            self.held[(key, seq)] = payload
            return []
        out = [(key, seq, payload)]
        expected += 1
        while (key, expected) in self.held:
            out.append((key, expected, self.held.pop((key, expected))))
            expected += 1
        self.next[key] = expected
        return out

    def pending(self):
        return len(self.held)
""",
    # Releases only this message, never the buffered ones it unblocks.
    "does not drain the buffer": _RIGHT.replace(
        "        while expected in held:\n"
        "            out.append((key, expected, held.pop(expected)))\n"
        "            expected += 1\n",
        "",
    ),
    # Checks only the buffer for duplicates: a duplicate of a released message is released
    # again.
    "releases old duplicates": _RIGHT.replace(
        "if seq < expected or seq in held:", "if seq in held:"
    ),
    # Drops released duplicates, but buffers a second copy of a waiting one as well.
    "buffers duplicates": _RIGHT.replace("if seq < expected or seq in held:", "if seq < expected:")
    .replace("held[seq] = payload", "held[seq] = held.get(seq, ()) + (payload,)")
    .replace(
        "out.append((key, expected, held.pop(expected)))",
        "out.append((key, expected, held.pop(expected)[0]))",
    )
    .replace(
        "return sum(len(h) for h in self.held.values())",
        "return sum(len(c) for h in self.held.values() for c in h.values())",
    ),
    # One sequence for all keys instead of one per key.
    "one counter for all keys": _RIGHT.replace(
        "self.next.get(key, 1)", "self.next.get('all', 1)"
    ).replace("self.next[key] = expected", "self.next['all'] = expected"),
    # Drains the buffer newest first.
    "drains newest first": _RIGHT.replace(
        "        return out\n\n    def pending",
        "        return out[:1] + out[1:][::-1]\n\n    def pending",
    ),
    # Keeps a defaultdict(lambda: 1): right answers, but it cannot be pickled.
    "defaultdict with a lambda": """
from collections import defaultdict

class Resequencer:
    def __init__(self):
        self.next = defaultdict(lambda: 1)
        self.held = defaultdict(dict)

    def push(self, key, seq, payload):
        held = self.held[key]
        if seq < self.next[key] or seq in held:
            return []
        held[seq] = payload
        out = []
        while self.next[key] in held:
            n = self.next[key]
            out.append((key, n, held.pop(n)))
            self.next[key] = n + 1
        return out

    def pending(self):
        return sum(map(len, self.held.values()))
""",
}

ALTERNATIVES = {
    # A heap per key.
    "a heap per key": """
import heapq

class Resequencer:
    def __init__(self):
        self._next = {}
        self._heaps = {}
        self._count = 0

    def push(self, key, seq, payload):
        nxt = self._next.get(key, 1)
        heap = self._heaps.get(key, [])
        if seq < nxt or any(s == seq for s, _ in heap):
            return []
        heapq.heappush(heap, (seq, payload))
        self._heaps[key] = heap
        self._count += 1
        ready = []
        while heap and heap[0][0] == nxt:
            s, p = heapq.heappop(heap)
            ready.append((key, s, p))
            self._count -= 1
            nxt += 1
        self._next[key] = nxt
        if not heap:
            del self._heaps[key]
        return ready

    def pending(self):
        return self._count
""",
    # One dict keyed by (key, seq) for the buffer, and a defaultdict(int) of what was released.
    "flat buffer": """
from collections import defaultdict

class Resequencer:
    def __init__(self):
        self.released = defaultdict(int)   # key -> last seq released
        self.buffer = {}                   # (key, seq) -> payload

    def push(self, key, seq, payload):
        if seq <= self.released[key] or (key, seq) in self.buffer:
            return []
        self.buffer[(key, seq)] = payload
        out = []
        while (key, self.released[key] + 1) in self.buffer:
            n = self.released[key] + 1
            out.append((key, n, self.buffer.pop((key, n))))
            self.released[key] = n
        return out

    def pending(self):
        return len(self.buffer)
""",
}
