"""Exercise 4 (chapter 04): RabbitMQ's topic-exchange rule, ``topic_matches(pattern, key)``.

The reference is :func:`brokerlab.routing.topic_matches`, which follows RabbitMQ's server and is
checked against its test suites; ``tests/data/rabbitmq_topic_cases.json`` keeps those cases, and
the first check replays them. The generated check draws patterns and keys from a few short
words (``a``, ``b``, the empty word, ``*``, ``#``) so that hypothesis shrinks a failure to the
smallest pattern and key on which the answer and RabbitMQ disagree.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ..routing import topic_matches as reference
from .core import Check, Exercise
from .helpers import Example, agree_with_reference, examples, smallest_failure
from .sandbox import Fail, expect_type, invoke

__all__ = ["EXERCISE", "rabbitmq_cases"]

CONTRACT = """\
`topic_matches(pattern: str, routing_key: str) -> bool`: does a topic exchange route a message
with `routing_key` to a queue bound with `pattern`? RabbitMQ's rule:

- Both are split into words at every `.`. Empty words count: `a..b` has three words (`a`, an
  empty word, `b`), and a leading or trailing dot adds an empty word. The empty key `""` has no
  words at all.
- In the pattern, `*` matches exactly one word (an empty word too) and `#` matches zero or more
  words, at the start, in the middle or at the end, as many times as it appears. Every other
  pattern word must equal the key's word. In the routing key, `*` and `#` are ordinary words.
- The grader checks the answer on RabbitMQ's own routing test cases and against the course's
  reference `brokerlab.routing.topic_matches` on generated patterns and keys.
"""

_DATA = "rabbitmq_topic_cases.json"


@cache
def rabbitmq_cases() -> tuple[tuple[str, str, bool], ...]:
    """RabbitMQ's routing test cases (``pattern, routing_key, expected``), smallest first."""
    path = Path(__file__).resolve().parents[3] / "tests" / "data" / _DATA
    cases = json.loads(path.read_text())["cases"]
    found = {(c["pattern"], c["routing_key"], bool(c["expected"])) for c in cases}
    return tuple(sorted(found, key=lambda c: (len(c[0]) + len(c[1]), c)))


#: Seconds per call in the first check, so that an answer that hangs is stopped soon.
CALL_TIMEOUT = 2.0


def _call(fn: Any, pattern: str, key: str) -> bool:
    what = f"topic_matches({pattern!r}, {key!r})"
    return expect_type(invoke(fn, (pattern, key), what=what, timeout=CALL_TIMEOUT), "bool", what)


def _rabbitmq(answer: dict[str, Any]) -> None:
    fn = answer["topic_matches"]

    def attempt(case: tuple[str, str, bool]) -> Fail | None:
        pattern, key, want = case
        got = _call(fn, pattern, key)
        if got == want:
            return None
        return Fail(
            f"topic_matches({pattern!r}, {key!r}) returned {got}; RabbitMQ says {want}.",
            counterexample=f"pattern {pattern!r}, routing key {key!r}: got {got}, RabbitMQ's "
            f"answer: {want}",
            kind="differs",
        )

    smallest_failure(rabbitmq_cases(), attempt, what="RabbitMQ cases")


def _case(pattern: str, key: str, hint: str) -> Example:
    return Example((pattern, key), reference(pattern, key), hint)


_EDGES = (
    _case("", "", "Two empty strings: the empty pattern has no words, like the empty key."),
    _case("a.#", "a", "'#' may match zero words, so 'a.#' matches 'a' (no dot needed)."),
    _case("#", "", "'#' matches zero words, and the empty key has zero words."),
    _case("*", "", "The empty key has no words at all, so '*' (exactly one word) cannot match."),
    _case("*", "a.b", "'*' matches exactly one word, never two."),
    _case("a.*", "a.", "'a.' has two words, 'a' and an empty one; '*' matches the empty word."),
    _case("*.*", ".", "'.' is two empty words; split on every dot and keep the empty words."),
    _case("a.*.b", "a..b", "'a..b' has an empty word in the middle, and '*' matches it."),
    _case("#.a", "a", "'#' at the start may match zero words."),
    _case("a.#.b", "a.b", "'#' in the middle may match zero words."),
    _case("a.#.b", "a.x.y.b", "'#' in the middle may match several words."),
    _case("a.#.#.b", "a.b", "Several '#' may each match zero words."),
    _case("#.*.#", "", "'#.*.#' needs at least one word for its '*'."),
    _case("#.b.#", "a.b", "Each '#' takes as many words as the rest of the pattern leaves it."),
    _case("#.b.#.c", "a.c.b.x.c", "Each '#' may end in more than one place: try them all."),
    _case("a.#", "ab", "Words are compared whole: 'a' is not a prefix match of 'ab'."),
    _case("a.b", "a.*", "In the routing key, '*' is an ordinary word, not a wildcard."),
    _case("#", "a..", "'#' matches any key, empty words included."),
)

# Patterns use a, b, the empty word and both wildcards; keys use a, b and the empty word
# (wildcards in a key are plain words: rare, but drawn too).
_PATTERN_WORDS = st.sampled_from(["a", "b", "", "*", "#"])
_KEY_WORDS = st.sampled_from(["a", "b", "", "a", "b", "*"])


@st.composite
def _pattern_and_key(draw: Any) -> tuple[str, str]:
    words = draw(st.lists(_PATTERN_WORDS, max_size=5))
    if draw(st.booleans()):  # a key built to fit the pattern (most random pairs never match)
        key_words: list[str] = []
        for w in words:
            if w == "*":
                key_words.append(draw(_KEY_WORDS))
            elif w == "#":
                key_words += draw(st.lists(_KEY_WORDS, max_size=2))
            else:
                key_words.append(w)
    else:
        key_words = draw(st.lists(_KEY_WORDS, max_size=5))
    return ".".join(words), ".".join(key_words)


def _describe(args: tuple, got: Any, expected: Any) -> str:
    pattern, key = args
    return (
        f"pattern {pattern!r}, routing key {key!r}: got {got}, RabbitMQ's answer: {expected}\n"
        f"  pattern words: {pattern.split('.') if pattern else []}\n"
        f"  key words:     {key.split('.') if key else []}"
    )


_HINTS = {
    "default": "Split both strings into words with s.split('.') (the empty string has no "
    "words), then match word by word: '*' takes one word, '#' any number, tried at every place "
    "it could end.",
    "type": "Return True or False (a bool), not a match object or a number.",
    "raised": "Guard the ends: the key may run out of words before the pattern does, and '#' "
    "may match nothing at the end.",
}

EXERCISE = Exercise(
    id="ex04_topic_routing",
    title="Route by topic, as RabbitMQ does",
    chapter=4,
    contract=CONTRACT,
    names=("topic_matches",),
    checks=(
        Check(
            "agrees with RabbitMQ's own routing test cases",
            3,
            _rabbitmq,
            {
                **_HINTS,
                "differs": "RabbitMQ's own tests disagree with your answer on this case; the "
                "edge-case check below explains each rule with a hint.",
            },
        ),
        Check(
            "edge cases: empty words, the empty key, '#' matching zero words anywhere",
            3,
            examples("topic_matches", _EDGES, returns="bool"),
            _HINTS,
        ),
        Check(
            "agrees with RabbitMQ's rule on generated patterns and keys",
            4,
            agree_with_reference(
                "topic_matches",
                _pattern_and_key(),
                reference,
                returns="bool",
                max_examples=300,
                describe=_describe,
            ),
            {
                **_HINTS,
                "differs": "Compare the words of the pattern and the key one by one on this "
                "smallest case; a regular expression built from the pattern usually gets "
                "'#' next to a dot wrong.",
            },
            timeout=15.0,
        ),
    ),
)
