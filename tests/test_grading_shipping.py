"""brokerlab.grading.shipping: a learner's function travels to a fresh interpreter as source."""

from __future__ import annotations

import pytest

from brokerlab.grading.notebook import answer_from_source
from brokerlab.grading.shipping import Unshippable, run_fresh, ship

CELL = """
import zlib
from hashlib import md5 as digest

SALT = b"k"
TABLE = {"a": 1}

def helper(data):
    return zlib.crc32(SALT + data) + TABLE["a"]

def partition(key, n):
    return (helper(key.encode()) + digest(b"").digest()[0]) % n
"""


def test_a_function_ships_with_its_imports_constants_and_helpers():
    fn = answer_from_source(CELL)["partition"]
    source = ship(fn, "partition")
    calls = [[("user-1", 7), ("", 3)]]
    fresh = run_fresh(source, "partition", calls, ("1", "2"), timeout=30)
    expected = [[fn("user-1", 7), fn("", 3)]]
    assert fresh == {"1": {"ok": expected}, "2": {"ok": expected}}


def test_hash_differs_between_seeds():
    fn = answer_from_source("def partition(key, n):\n    return hash(key) % n\n")["partition"]
    calls = [[(f"user-{i}", 1000) for i in range(20)]]
    fresh = run_fresh(ship(fn, "partition"), "partition", calls, ("1", "2"), timeout=30)
    assert fresh["1"]["ok"] != fresh["2"]["ok"]


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("partition = lambda key, n: 0\n", "lambda"),
        (
            "def make():\n    salt = 3\n    def partition(key, n):\n        return salt % n\n"
            "    return partition\npartition = make()\n",
            "salt",
        ),
        (
            "import random\nRNG = random.Random(1)\ndef partition(key, n):\n"
            "    return RNG.randrange(n)\n",
            "RNG",
        ),
    ],
)
def test_what_cannot_ship_is_named(source, words):
    fn = answer_from_source(source)["partition"]
    with pytest.raises(Unshippable, match=words):
        ship(fn, "partition")


def test_an_error_in_the_fresh_process_is_reported():
    fn = answer_from_source("def partition(key, n):\n    return 1 // 0\n")["partition"]
    fresh = run_fresh(ship(fn, "partition"), "partition", [[("a", 2)]], ("1",), timeout=30)
    assert fresh["1"]["error"].startswith("ZeroDivisionError")


def test_answers_loaded_together_each_ship_their_own_source():
    a = answer_from_source("def partition(key, n):\n    return 1 % n\n")["partition"]
    b = answer_from_source("def partition(key, n):\n    return 2 % n\n")["partition"]
    assert "1 % n" in ship(a, "partition") and "2 % n" in ship(b, "partition")


def test_source_that_is_not_the_running_code_is_refused():
    import linecache

    fn = answer_from_source("def partition(key, n):\n    return len(key) % n\n")["partition"]
    name = fn.__code__.co_filename
    size, mtime, _, full = linecache.cache[name]
    linecache.cache[name] = (size, mtime, ["def partition(key, n):\n", "    return 0\n"], full)
    with pytest.raises(Unshippable, match="not the code that runs"):
        ship(fn, "partition")
