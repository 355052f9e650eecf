"""Exercise 7 (chapter 06): a key partitioner that every process agrees on.

Three properties, as the issue sets them:

- in range for 1 to 1000 partitions;
- **stable across processes**: the answer runs in new interpreters with ``PYTHONHASHSEED`` 1
  and 2 (:mod:`brokerlab.grading.shipping` sends its source there) and must give what it gives
  here, so Python's salted ``hash()`` fails;
- **even**: a chi-squared test of the counts per partition, at p > 1e-6, over 10,000 keys,
  sequential (``user-1`` ...) and random (distinct, from a fixed seed, so a grade never
  changes), for 3, 8, 10, 12, 64, 100 and 997 partitions. The p-value is the regularized upper
  incomplete gamma function ``Q(k/2, x/2)`` (Numerical Recipes, §6.2), computed here.

Murmur2 as Kafka uses it, CRC32, MD5 and 32-bit FNV-1a all pass; so would any stable hash that
mixes its input well.
"""

from __future__ import annotations

import math
import random
import string
from functools import cache
from typing import Any

from .core import Check, Exercise
from .sandbox import Fail, invoke, short_repr
from .shipping import Unshippable, run_fresh, ship

__all__ = ["EXERCISE", "PARTITION_COUNTS", "chi2_pvalue", "random_keys", "sequential_keys"]

CONTRACT = """\
`partition(key: str, num_partitions: int) -> int`: the partition for a message key, so that all
messages with one key go to one partition and keep their order.

- It returns an int in `range(num_partitions)`, for 1 to 1000 partitions.
- It gives the same partition for the same key in every process: the grader runs the answer
  in fresh Python interpreters with different `PYTHONHASHSEED` values, so Python's built-in
  `hash()` fails. (It sends the function's source there: define it with `def` at the top level
  of a cell.)
- It spreads keys evenly: a chi-squared test of the counts per partition must give p > 10⁻⁶,
  over 10,000 keys, both sequential (`user-1`, `user-2`, ...) and random (drawn from a fixed
  seed, so an answer always gets the same grade), for 3, 8, 10, 12, 64, 100 and 997 partitions.
"""

PARTITION_COUNTS = (3, 8, 10, 12, 64, 100, 997)
KEYS = 10_000
P_MIN = 1e-6
SEEDS = ("1", "2")
#: Seconds for each fresh interpreter (start-up included).
FRESH_TIMEOUT = 20.0


def sequential_keys(n: int = KEYS) -> list[str]:
    return [f"user-{i}" for i in range(1, n + 1)]


@cache
def random_keys(n: int = KEYS, seed: int = 14) -> tuple[str, ...]:
    """``n`` distinct keys of 4 to 16 characters, always the same ones."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + "-_"
    seen: dict[str, None] = {}
    while len(seen) < n:
        seen.setdefault("".join(rng.choices(alphabet, k=rng.randint(4, 16))))
    return tuple(seen)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) (series or continued fraction)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:  # series for P(a, x)
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # Lentz's continued fraction for Q(a, x)
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        step = d * c
        h *= step
        if abs(step - 1) < 1e-15:
            break
    return math.exp(log_front) * h


def chi2_pvalue(counts: list[int]) -> float:
    """The chi-squared test's p-value for ``counts`` against an even spread."""
    total, k = sum(counts), len(counts)
    expected = total / k
    statistic = sum((c - expected) ** 2 for c in counts) / expected
    return _gamma_q((k - 1) / 2, statistic / 2)


def _all(
    fn: Any, keys: list[str] | tuple[str, ...], n: int, what: str, timeout: float | None = None
) -> list[Any]:
    """The answer for every key, in one sandboxed call (the loop is the grader's); a failure
    names the key it happened on."""
    current = [""]

    def every() -> list[Any]:
        out = []
        for key in keys:
            current[0] = key
            out.append(fn(key, n))
        return out

    try:
        return invoke(every, (), what=what, timeout=timeout)
    except Fail as f:
        call = f"partition({current[0]!r}, {n})"
        f.message = f.message.replace(what, call, 1)
        f.counterexample = call
        raise


def _in_range_or_fail(key: str, n: int, got: Any) -> int:
    """``got`` if it is an int in ``range(n)``; else the failure that names the call."""
    if isinstance(got, bool) or not isinstance(got, int) or not 0 <= got < n:
        raise Fail(
            f"partition({key!r}, {n}) returned {short_repr(got, 40)}; the contract says an int "
            f"in range({n}).",
            counterexample=f"partition({key!r}, {n}) -> {short_repr(got, 40)}",
            kind="range" if isinstance(got, int) else "type",
        )
    return got


def _in_range(answer: dict[str, Any]) -> None:
    fn = answer["partition"]
    keys = ["", "a", "user-1", "user-42", "ключ", "🙂", "x" * 300, "order.eu.12"]
    for n in (1, 2, 3, 7, 10, 100, 997, 1000):
        got = _all(fn, keys, n, f"partition(key, {n}) for the keys {keys[:4]!r}...", timeout=2.0)
        for key, p in zip(keys, got):
            _in_range_or_fail(key, n, p)


_STABLE_KEYS = [f"user-{i}" for i in range(1, 41)] + ["", "a", "ключ", "🙂", "order.eu.12"]
_STABLE_COUNTS = (3, 10, 997)


def _stable(answer: dict[str, Any]) -> None:
    fn = answer["partition"]
    here = [_all(fn, _STABLE_KEYS, n, f"partition(key, {n})") for n in _STABLE_COUNTS]
    try:
        source = ship(fn, "partition")
    except Unshippable as exc:
        raise Fail(
            f"The grader could not send partition to a new Python process: {exc}",
            counterexample="partition could not be shipped",
            kind="unshippable",
        ) from None
    calls = [[(k, n) for k in _STABLE_KEYS] for n in _STABLE_COUNTS]
    fresh = run_fresh(source, "partition", calls, SEEDS, FRESH_TIMEOUT)
    for seed in SEEDS:
        if "error" in fresh[seed]:
            raise Fail(
                f"In a new Python process (PYTHONHASHSEED={seed}) partition failed: "
                f"{fresh[seed]['error']}. Import inside the function, or in the same cell, "
                "whatever it uses.",
                counterexample=f"the source sent to the new process:\n{source}",
                kind="fresh_error",
            )
    cells = [
        (row, n, col, key)
        for row, n in enumerate(_STABLE_COUNTS)
        for col, key in enumerate(_STABLE_KEYS)
    ]
    # first a difference between the two fresh processes (its text never changes), then one
    # between them and this process (whose own hash seed may be random)
    for row, n, col, key in cells:
        values = [fresh[s]["ok"][row][col] for s in SEEDS]
        if len(set(values)) > 1:
            shown = ", ".join(f"{v} with PYTHONHASHSEED={s}" for s, v in zip(SEEDS, values))
            raise Fail(
                f"partition({key!r}, {n}) is not the same in every process: {shown}.",
                counterexample=f"partition({key!r}, {n}) -> {shown}",
                kind="unstable",
            )
    for row, n, col, key in cells:
        there = fresh[SEEDS[0]]["ok"][row][col]
        if there != here[row][col]:
            raise Fail(
                f"partition({key!r}, {n}) is not the same in every process: {here[row][col]} "
                f"here, {there} in new processes.",
                counterexample=f"partition({key!r}, {n}) -> {here[row][col]} here, {there} in "
                "new processes",
                kind="unstable",
            )


def _even(keys_of: Any, label: str) -> Any:
    def run(answer: dict[str, Any]) -> None:
        fn = answer["partition"]
        keys = keys_of()
        for n in PARTITION_COUNTS:
            got = _all(fn, keys, n, f"partition(key, {n}) for {len(keys):,} {label} keys")
            counts = [0] * n
            for key, p in zip(keys, got):
                counts[_in_range_or_fail(key, n, p)] += 1
            p_value = chi2_pvalue(counts)
            if p_value <= P_MIN:
                top = sorted(range(n), key=lambda i: (-counts[i], i))[:3]
                empty = sum(1 for c in counts if c == 0)
                raise Fail(
                    f"With {n} partitions, {len(keys):,} {label} keys are spread too unevenly: "
                    f"the chi-squared test gives p = {p_value:.1e} (it must be above 1e-06).",
                    counterexample=f"{len(keys):,} {label} keys ({keys[0]!r}, {keys[1]!r}, ...) "
                    f"over {n} partitions: expected {len(keys) / n:.1f} each; the fullest are "
                    + ", ".join(f"partition {i} with {counts[i]}" for i in top)
                    + f"; {empty} partition(s) got none",
                    kind="uneven",
                )

    return run


_HINTS = {
    "default": "Hash the key's bytes with a stable hash (zlib.crc32, hashlib.md5, or Kafka's "
    "murmur2) and take it modulo num_partitions.",
    "range": "Take the hash modulo num_partitions, and make sure it is not negative (Kafka "
    "masks the sign bit: h & 0x7fffffff).",
    "type": "Return a plain int.",
    "raised": "partition must accept any str key, the empty string and non-ASCII text "
    "included: hash its bytes, key.encode('utf-8').",
    "unstable": "Python's hash() of a str is salted per process (PYTHONHASHSEED), so two "
    "producers would disagree. Use a hash of the key's bytes that is defined by its algorithm: "
    "zlib.crc32(key.encode()), hashlib.md5, or murmur2.",
    "unshippable": "Define partition with def at the top level of a cell, with the imports "
    "it needs in that cell or inside the function.",
    "fresh_error": "The function must work on its own in a new Python process: import what it "
    "uses (import zlib) in its cell or inside it.",
    "uneven": "Use all of the hash, not a few characters of the key (the sum of the "
    "characters, or the last one, gives the same partition to many keys).",
}

EXERCISE = Exercise(
    id="ex07_key_partitioner",
    title="A key partitioner every process agrees on",
    chapter=6,
    contract=CONTRACT,
    names=("partition",),
    checks=(
        Check("an int in range(num_partitions), for 1 to 1000 partitions", 2, _in_range, _HINTS),
        Check(
            "the same partition in fresh interpreters with other PYTHONHASHSEED values",
            4,
            _stable,
            _HINTS,
            timeout=45.0,
        ),
        Check(
            "spreads 10,000 sequential keys evenly (chi-squared, p > 1e-6)",
            2,
            _even(sequential_keys, "sequential"),
            _HINTS,
            timeout=20.0,
        ),
        Check(
            "spreads 10,000 random keys evenly (chi-squared, p > 1e-6)",
            2,
            _even(random_keys, "random"),
            _HINTS,
            timeout=20.0,
        ),
    ),
)
