"""Routing: the rules an exchange uses to decide which queues get a message.

Two pure functions carry the rules that are easy to get subtly wrong:

- :func:`topic_matches` - does a topic-exchange *binding key* (a pattern) match a *routing key*?
- :func:`headers_match` - do a headers-exchange *binding's arguments* match a message's headers?

Both follow RabbitMQ (server ``main``, 2026), checked against its own test suites
(``deps/rabbit/test/routing_SUITE.erl``, ``rabbit_db_topic_exchange_SUITE.erl``,
``exchanges_SUITE.erl``), the Java client's ``functional/Routing.java`` and the source of
``rabbit_exchange_type_headers.erl``. ``tests/data/`` keeps those cases as data.

Topic keys
----------
A key is a list of *words* separated by ``.``. Empty words count: ``"a..b"`` has three words
(``a``, ``""``, ``b``) and ``"."`` has two empty ones. The empty key ``""`` is special: it has
*zero* words. In a binding key, the word ``*`` stands for exactly one word and ``#`` for zero or
more words; any other word (``simply#carrots`` included) must be equal. In a routing key, ``*``
and ``#`` are ordinary words. So:

>>> topic_matches("a.#", "a")          # '#' may match zero words
True
>>> topic_matches("#", "")             # ... even in the empty key
True
>>> topic_matches("*", "")             # '*' needs exactly one word, and "" has none
False
>>> topic_matches("*.orange.*", "quick.orange.rabbit")
True

(kombu's in-memory transport turns ``a.#`` into a regular expression that needs the dot, so
``a.#`` misses ``a`` there: a known trap when testing against it.)

Headers arguments
-----------------
The binding argument ``x-match`` picks the rule (``all`` when absent):

========== ===========================================================================
all        every condition holds (no conditions at all: matches every message)
any        at least one condition holds (no conditions: matches nothing)
all-with-x like ``all``, but arguments starting with ``x-`` are conditions too
any-with-x like ``any``, but arguments starting with ``x-`` are conditions too
========== ===========================================================================

With ``all``/``any``, arguments whose name starts with ``x-`` are ignored; ``x-match`` itself is
never a condition. A condition ``name: value`` holds when the message has a header ``name``
whose value equals ``value``; a condition whose value is ``None`` (AMQP's *void*) holds when the
header is merely present, whatever its value.

Equality follows Erlang's ``==`` on AMQP field values, which differs from Python's in two
places: ``True`` is not ``1`` (booleans are atoms, not numbers), and ``"pdf"`` equals
``b"pdf"`` (both are binaries on the wire). ``1 == 1.0`` holds in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .errors import InvalidBinding, InvalidType, OutOfRange

__all__ = [
    "MAX_KEY_BYTES",
    "X_MATCH_MODES",
    "check_arguments",
    "check_headers",
    "check_routing_key",
    "compile_headers",
    "compile_topic",
    "headers_match",
    "topic_matches",
    "topic_words",
    "x_match_mode",
]

#: AMQP 0-9-1 routing and binding keys are ``shortstr``: at most 255 bytes (UTF-8).
MAX_KEY_BYTES = 255

#: The values RabbitMQ accepts for ``x-match`` (``rabbit_exchange_type_headers:validate_binding``).
X_MATCH_MODES = ("all", "any", "all-with-x", "any-with-x")


# --- validation shared by exchanges and the broker ----------------------------------------------


def check_routing_key(key: Any, name: str = "routing_key") -> str:
    """Return ``key`` if it can be a routing or binding key, else raise.

    A key is a ``str`` of at most 255 UTF-8 bytes (AMQP ``shortstr``). ``""`` is allowed.
    """
    if not isinstance(key, str):
        hint = " Decode it first, e.g. key.decode()." if isinstance(key, (bytes, bytearray)) else ""
        none = " Use '' for no key." if key is None else ""
        raise InvalidType(
            f"{name}={key!r} is a {type(key).__name__}: a routing key is a str of dot-separated "
            f"words, e.g. 'quick.orange.rabbit'.{hint}{none}"
        )
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise OutOfRange(
            f"{name} is {size} bytes long: AMQP keys are at most {MAX_KEY_BYTES} bytes (UTF-8). "
            "Use a shorter key."
        )
    return key


def _check_table(name: str, table: Any, example: str) -> Mapping[str, Any]:
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise InvalidType(
            f"{name}={table!r} is a {type(table).__name__}: it must be a dict of str names to "
            f"values, e.g. {example}. Pass a dict (or None for none)."
        )
    for k in table:
        if not isinstance(k, str):
            raise InvalidType(
                f"{name} has the key {k!r} of type {type(k).__name__}: names are str. "
                f"Use str keys, e.g. {example}."
            )
    return table


def check_headers(headers: Any, name: str = "headers") -> Mapping[str, Any]:
    """Return message headers as a mapping (``None`` becomes ``{}``), or raise :class:`InvalidType`."""
    return _check_table(name, headers, "{'format': 'pdf'}")


def check_arguments(arguments: Any, name: str = "arguments") -> Mapping[str, Any]:
    """Return binding arguments as a mapping (``None`` becomes ``{}``), or raise :class:`InvalidType`."""
    return _check_table(name, arguments, "{'x-match': 'any', 'format': 'pdf'}")


def x_match_mode(arguments: Mapping[str, Any]) -> str:
    """The ``x-match`` of headers-binding ``arguments`` (``'all'`` when absent).

    Raises :class:`InvalidBinding` for any other value, as RabbitMQ refuses such a binding.
    """
    mode = arguments.get("x-match", "all")
    if isinstance(mode, str) and mode in X_MATCH_MODES:
        return mode
    allowed = ", ".join(repr(m) for m in X_MATCH_MODES)
    what = "is not allowed" if isinstance(mode, str) else f"is a {type(mode).__name__}, not a str"
    raise InvalidBinding(
        f"x-match={mode!r} {what}: a headers binding's x-match is one of {allowed}. "
        "Leave it out for 'all'."
    )


# --- topic keys ------------------------------------------------------------------------------


def topic_words(key: str) -> list[str]:
    """The words of a topic key: ``"a..b"`` -> ``['a', '', 'b']``; ``""`` -> ``[]``."""
    return key.split(".") if key else []


@lru_cache(maxsize=4096)
def compile_topic(pattern: str) -> Callable[[str], bool]:
    """Turn a binding key into a function ``routing_key -> bool`` (no type checks: use
    :func:`topic_matches` for that). Cached: exchanges route on every publish, and the same
    few patterns come back again and again."""
    words: list[str] = []
    for w in topic_words(pattern):
        if not (w == "#" and words and words[-1] == "#"):  # '#.#' means the same as '#'
            words.append(w)
    if "*" not in words and "#" not in words:
        return pattern.__eq__  # no wildcard: plain equality (a direct exchange's rule)
    if words == ["#"]:
        return lambda key: True
    if words.count("#") <= 2:
        return _topic_regex(words)
    return _topic_segments(words)


def _topic_regex(words: list[str]) -> Callable[[str], bool]:
    """Match with a regular expression over the key written as ``.w1.w2...`` (``""`` for no words).

    Every word then starts with a dot, so ``*`` is ``\\.[^.]*`` (one word, maybe empty), ``#`` is
    ``(\\.[^.]*)*`` (any number of words) and a literal is ``\\.word``. Fast (the matching runs in
    C), but a regex backtracks over where each ``#`` ends, so this is used for at most two ``#``.
    """
    parts = []
    for w in words:
        parts.append(
            r"(?:\.[^.]*)*" if w == "#" else r"\.[^.]*" if w == "*" else r"\." + re.escape(w)
        )
    fullmatch = re.compile("".join(parts), re.DOTALL).fullmatch
    return lambda key: fullmatch("." + key if key else "") is not None


def _topic_segments(words: list[str]) -> Callable[[str], bool]:
    """Match in linear time: the pattern is ``first # mid1 # mid2 ... # last`` where each piece is a
    fixed number of words. ``first`` must start the key, ``last`` must end it, and each middle
    piece is placed at its leftmost fit (placing it later could only leave less room)."""
    pieces: list[list[str]] = [[]]
    for w in words:
        if w == "#":
            pieces.append([])
        else:
            pieces[-1].append(w)
    first, middles, last = pieces[0], [p for p in pieces[1:-1] if p], pieces[-1]
    needed = len(first) + len(last) + sum(len(p) for p in middles)

    def fits(piece: list[str], key_words: list[str], at: int) -> bool:
        return all(
            p == "*" or p == k for p, k in zip(piece, key_words[at : at + len(piece)], strict=True)
        )

    def match(key: str) -> bool:
        kw = topic_words(key)
        end = len(kw) - len(last)
        if len(kw) < needed or not fits(first, kw, 0) or not fits(last, kw, end):
            return False
        at = len(first)
        for piece in middles:
            while at + len(piece) <= end and not fits(piece, kw, at):
                at += 1
            if at + len(piece) > end:
                return False
            at += len(piece)
        return True

    return match


def topic_matches(pattern: str, routing_key: str) -> bool:
    """Does the topic binding key ``pattern`` match ``routing_key``? (RabbitMQ's rules.)

    ``*`` matches exactly one word, ``#`` zero or more; words are separated by ``.``, empty words
    count, and ``""`` has no words. Wildcards in the *routing key* are plain words.

    >>> topic_matches("lazy.#", "lazy.orange.new.rabbit"), topic_matches("*.*.rabbit", "a.rabbit")
    (True, False)
    """
    if not isinstance(pattern, str):
        raise InvalidType(
            f"pattern={pattern!r} is a {type(pattern).__name__}: a binding key is a str such as "
            "'*.orange.*' or 'lazy.#'."
        )
    if not isinstance(routing_key, str):
        raise InvalidType(
            f"routing_key={routing_key!r} is a {type(routing_key).__name__}: a routing key is a "
            "str of dot-separated words, e.g. 'quick.orange.rabbit'."
        )
    return compile_topic(pattern)(routing_key)


# --- headers ----------------------------------------------------------------------------------


_PLAIN = {str, bytes, int, float, bool}


def _same_value(expected: Any, actual: Any) -> bool:
    """Erlang ``==`` on AMQP field values (see the module docstring)."""
    if type(expected) is type(actual) and type(expected) in _PLAIN:
        return bool(expected == actual)  # the same plain type: plain equality
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (str, bytes, bytearray)) and isinstance(
        actual, (str, bytes, bytearray)
    ):
        as_bytes = [
            v.encode("utf-8", "surrogatepass") if isinstance(v, str) else bytes(v)
            for v in (expected, actual)
        ]
        return as_bytes[0] == as_bytes[1]
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(map(_same_value, expected, actual))
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        return expected.keys() == actual.keys() and all(
            _same_value(expected[k], actual[k]) for k in expected
        )
    return bool(expected == actual)


def compile_headers(binding_arguments: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """Turn a headers binding's arguments into a function ``headers -> bool``.

    Checks ``x-match`` (raises :class:`InvalidBinding`) and picks the conditions once, so an
    exchange does not redo it on every publish. The headers passed later are not checked.
    """
    mode = x_match_mode(binding_arguments)
    with_x = mode.endswith("-with-x")
    conditions = [
        (name, expected)
        for name, expected in binding_arguments.items()
        if name != "x-match" and (with_x or not name.startswith("x-"))
    ]
    missing = object()

    def holds(name: str, expected: Any, headers: Mapping[str, Any]) -> bool:
        actual = headers.get(name, missing)
        return actual is not missing and (expected is None or _same_value(expected, actual))

    if mode.startswith("all"):
        return lambda headers: all(holds(n, e, headers) for n, e in conditions)
    return lambda headers: any(holds(n, e, headers) for n, e in conditions)


def headers_match(binding_arguments: Mapping[str, Any], headers: Mapping[str, Any]) -> bool:
    """Do a headers-exchange binding's arguments match a message's headers? (RabbitMQ's rules.)

    ``binding_arguments`` holds ``x-match`` (optional, default ``'all'``) and the conditions;
    ``headers`` are the message's headers (``None`` means none). Raises :class:`InvalidBinding`
    for an ``x-match`` RabbitMQ would refuse, :class:`InvalidType` for non-dict arguments.

    >>> headers_match({"x-match": "any", "format": "pdf", "type": "report"}, {"format": "pdf"})
    True
    >>> headers_match({"format": "pdf", "type": "report"}, {"format": "pdf"})  # 'all' by default
    False
    >>> headers_match({"x-match": "all", "x-retry": 1}, {})  # x- ignored: no conditions left
    True
    """
    arguments = check_arguments(binding_arguments, "binding_arguments")
    message_headers = check_headers(headers)
    return compile_headers(arguments)(message_headers)
