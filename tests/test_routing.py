"""Topic and headers matching: RabbitMQ's own cases (tests/data), properties, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerlab import routing
from brokerlab.errors import InvalidBinding, InvalidType, OutOfRange
from brokerlab.routing import check_routing_key, headers_match, topic_matches, topic_words

DATA = Path(__file__).parent / "data"
TOPIC_CASES = json.loads((DATA / "rabbitmq_topic_cases.json").read_text())["cases"]
HEADERS_CASES = json.loads((DATA / "rabbitmq_headers_cases.json").read_text())["cases"]


def _decode(value):
    """The data files write Python bytes as {"$bytes": "text"}."""
    if isinstance(value, dict) and set(value) == {"$bytes"}:
        return value["$bytes"].encode()
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


# --- conformance -------------------------------------------------------------------------------


def test_the_case_files_cite_a_source_for_every_case():
    assert len(TOPIC_CASES) > 300 and len(HEADERS_CASES) > 40
    for case in TOPIC_CASES + HEADERS_CASES:
        assert case["source"].strip()
        assert isinstance(case["expected"], bool)


@pytest.mark.parametrize(
    "case", TOPIC_CASES, ids=[f"{c['pattern']!r}~{c['routing_key']!r}" for c in TOPIC_CASES]
)
def test_topic_case_from_rabbitmq(case):
    assert topic_matches(case["pattern"], case["routing_key"]) is case["expected"], case["source"]


@pytest.mark.parametrize("case", HEADERS_CASES, ids=[str(i) for i in range(len(HEADERS_CASES))])
def test_headers_case_from_rabbitmq(case):
    got = headers_match(_decode(case["arguments"]), _decode(case["headers"]))
    assert got is case["expected"], case["source"]


# --- topic: the subtle rules, named ------------------------------------------------------------


def test_the_a_hash_trap():
    # '#' may match zero words, so 'a.#' matches 'a' (kombu's memory transport says no).
    assert topic_matches("a.#", "a")
    assert topic_matches("a.#", "a.b.c")
    assert not topic_matches("a.#", "b")
    assert not topic_matches("a.#", "ab")


def test_empty_key_has_zero_words_and_empty_words_count():
    assert topic_words("") == [] and topic_words("a..b") == ["a", "", "b"]
    assert topic_matches("#", "") and not topic_matches("*", "") and topic_matches("", "")
    assert topic_matches("a.*.b", "a..b") and topic_matches("*.*", ".")
    assert not topic_matches("", ".") and not topic_matches("*", ".")


def test_wildcards_in_a_routing_key_are_plain_words():
    assert topic_matches("#.noclue", "#.noclue")
    assert not topic_matches("a.b", "a.*") and not topic_matches("a.b", "#")
    assert topic_matches("a.*", "a.*") and topic_matches("a.*", "a.#")


def test_hash_inside_a_word_is_literal():
    assert topic_matches("simply#carrots", "simply#carrots")
    assert not topic_matches("simply#carrots", "simplycarrots")
    assert not topic_matches("a*", "ab")


def test_regex_characters_in_words_are_literal():
    assert topic_matches("a+b.(c)", "a+b.(c)")
    assert not topic_matches("a+b", "aab")
    assert not topic_matches("a[bc]", "ab")
    assert topic_matches("*.$", "x.$") and topic_matches("#.\\d", "1.\\d")


def test_compiled_patterns_are_cached():
    routing.compile_topic.cache_clear()
    for _ in range(5):
        topic_matches("*.orange.*", "quick.orange.rabbit")
    info = routing.compile_topic.cache_info()
    assert info.misses == 1 and info.hits == 4


# --- topic: properties against a plain recursive definition --------------------------------------


def reference_match(pattern: list[str], key: list[str]) -> bool:
    """The definition, word by word, with no cleverness (exponential, fine for small inputs)."""
    if not pattern:
        return not key
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(reference_match(rest, key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return (head == "*" or head == key[0]) and reference_match(rest, key[1:])


WORDS = st.sampled_from(["a", "b", "", "ab"])
PATTERN_WORDS = st.sampled_from(["a", "b", "", "*", "#", "#", "*"])


def _join(words: list[str]) -> str:
    return ".".join(words)


def _keys(words_strategy, max_size):
    # "" is zero words; a one-word list [""] would also be "", so it is left out.
    return st.lists(words_strategy, max_size=max_size).filter(lambda w: w != [""])


@given(_keys(PATTERN_WORDS, 7), _keys(WORDS, 8))
def test_topic_matches_agrees_with_the_definition(pattern, key):
    assert topic_matches(_join(pattern), _join(key)) is reference_match(pattern, key)


@given(_keys(PATTERN_WORDS, 9), _keys(WORDS, 10))
def test_the_regex_and_the_linear_matcher_agree(pattern, key):
    # Patterns with three or more '#' use the linear matcher; check both on every pattern.
    words = [w for i, w in enumerate(pattern) if not (w == "#" and i and pattern[i - 1] == "#")]
    if "#" not in words:
        words.append("#")
    k = _join(key)
    assert routing._topic_regex(words)(k) is routing._topic_segments(words)(k)
    assert routing._topic_segments(words)(k) is reference_match(words, key)


@given(_keys(WORDS, 6))
def test_without_wildcards_topic_is_equality(words):
    key = _join(words)
    assert topic_matches(key, key)
    assert not topic_matches(key, key + ".x")


@given(_keys(WORDS, 8))
def test_hash_matches_every_key_and_hash_hash_is_hash(words):
    key = _join(words)
    assert topic_matches("#", key) and topic_matches("#.#", key) and topic_matches("#.#.#.#", key)


def test_many_hashes_stay_fast_on_a_long_key():
    # A backtracking regex would take time ~ n**4 here; the linear matcher answers at once.
    key = ".".join(["a"] * 120)
    assert not topic_matches("#.a.#.a.#.a.#.a.#.b", key)
    assert topic_matches("#.a.#.a.#.a.#.a.#", key)


# --- headers: properties against a port of RabbitMQ's merge algorithm -------------------------------


def erlang_eq(a, b) -> bool:
    """Erlang == on the values used below: booleans are atoms, never numbers."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def rabbit_headers_match(args: dict, data: dict) -> bool:
    """rabbit_exchange_type_headers:headers_match/5, clause by clause, over sorted lists."""
    kind = {"all": "all", "any": "any", "all-with-x": "all_with_x", "any-with-x": "any_with_x"}[
        args.get("x-match", "all")
    ]
    pattern, values = sorted(args.items()), sorted(data.items())
    all_match, any_match = True, False
    while True:
        if not all_match and kind in ("all", "all_with_x"):
            return False
        if any_match and kind in ("any", "any_with_x"):
            return True
        if not pattern:
            return all_match if kind in ("all", "all_with_x") else any_match
        pk, pv = pattern[0]
        if pk == "x-match" or (pk.startswith("x-") and kind in ("all", "any")):
            pattern = pattern[1:]
            continue
        if not values:
            all_match, pattern = False, []
            continue
        dk, dv = values[0]
        if pk > dk:
            values = values[1:]
        elif pk < dk:
            pattern, all_match = pattern[1:], False
        elif pv is None or erlang_eq(pv, dv):
            pattern, values, any_match = pattern[1:], values[1:], True
        else:
            pattern, values, all_match = pattern[1:], values[1:], False


NAMES = st.sampled_from(["a", "b", "c", "x-a", "x-b"])
VALUES = st.sampled_from(["1", "2", 1, 2, 1.0, True, False, None])


@given(
    st.dictionaries(NAMES, VALUES, max_size=4),
    st.sampled_from([None, "all", "any", "all-with-x", "any-with-x"]),
    st.dictionaries(NAMES, VALUES, max_size=4),
)
def test_headers_match_agrees_with_rabbitmqs_algorithm(conditions, mode, headers):
    args = dict(conditions)
    if mode is not None:
        args["x-match"] = mode
    assert headers_match(args, headers) is rabbit_headers_match(args, headers)


def test_headers_none_means_no_headers_and_arguments_none_means_all_of_nothing():
    assert headers_match(None, None) is True
    assert headers_match({"a": None}, None) is False


def test_str_and_bytes_values_are_the_same_binary():
    assert headers_match({"format": "pdf"}, {"format": b"pdf"})
    assert headers_match({"format": b"pdf"}, {"format": "pdf"})
    assert not headers_match({"format": "pdf"}, {"format": b"PDF"})


def test_nested_values_compare_structurally():
    assert headers_match({"tags": ["a", "b"]}, {"tags": ("a", b"b")})
    assert not headers_match({"tags": ["a", True]}, {"tags": ["a", 1]})
    assert headers_match({"m": {"k": 1}}, {"m": {"k": 1.0}})
    assert not headers_match({"m": {"k": 1}}, {"m": {"k": 1, "j": 2}})


# --- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, key", [(None, "a"), (b"a", "a"), ("a", None), ("a", b"a"), ("a", 1)]
)
def test_topic_matches_refuses_non_str(pattern, key):
    with pytest.raises(InvalidType, match="str") as err:
        topic_matches(pattern, key)
    assert isinstance(err.value, TypeError)


@pytest.mark.parametrize("mode", ["some", "ALL", "", 1, None, b"any", ["all"]])
def test_bad_x_match_is_refused_with_the_allowed_values(mode):
    with pytest.raises(InvalidBinding) as err:
        headers_match({"x-match": mode, "a": 1}, {"a": 1})
    text = str(err.value)
    assert all(m in text for m in ("'all'", "'any'", "'all-with-x'", "'any-with-x'"))
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize(
    "args, headers, word",
    [
        ([("a", 1)], {}, "binding_arguments"),
        ({"a": 1}, [("a", 1)], "headers"),
        ({1: "a"}, {}, "binding_arguments"),
        ({}, {b"a": 1}, "headers"),
        ("x-match=any", {}, "binding_arguments"),
    ],
)
def test_headers_match_refuses_bad_types(args, headers, word):
    with pytest.raises(InvalidType, match=re.escape(word)):
        headers_match(args, headers)


def test_check_routing_key_limits_and_messages():
    assert check_routing_key("a" * 255) == "a" * 255
    with pytest.raises(OutOfRange, match="255 bytes"):
        check_routing_key("é" * 128)  # 256 bytes in UTF-8
    with pytest.raises(InvalidType, match=r"decode\(\)"):
        check_routing_key(b"a.b")
    with pytest.raises(InvalidType, match="Use '' for no key"):
        check_routing_key(None)


# --- the kombu trap, checked against kombu itself ------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, key", [("a.#", "a"), ("#.b", "b"), ("a.#.b", "a.b"), ("a.*.c", "a..c")]
)
def test_kombu_memory_transport_differs_from_rabbitmq_here(pattern, key):
    exchange = pytest.importorskip("kombu.transport.virtual.exchange")
    kombu_topic = exchange.TopicExchange.__new__(exchange.TopicExchange)
    kombu_says = (
        re.match(exchange.TopicExchange.key_to_pattern(kombu_topic, pattern), key) is not None
    )
    assert topic_matches(pattern, key) is True
    assert kombu_says is False
