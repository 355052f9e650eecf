"""Mutants and alternative correct answers for ex04_topic_routing (Python source)."""


def _matcher(split: str, hash_from: str = "j", word_ok: str = "p[i] == k[j]") -> str:
    """A recursive matcher; each mutant changes how a string is split into words (``split``
    with ``{}`` for the string), where '#' may end (``hash_from``) or which words are equal."""
    return f"""
def topic_matches(pattern, routing_key):
    p = {split.format("pattern")}
    k = {split.format("routing_key")}

    def match(i, j):
        if i == len(p):
            return j == len(k)
        if p[i] == "#":
            return any(match(i + 1, jj) for jj in range({hash_from}, len(k) + 1))
        return j < len(k) and (p[i] == "*" or {word_ok}) and match(i + 1, j + 1)

    return match(0, 0)
"""


_WORDS = "({0}.split('.') if {0} else [])"

MUTANTS = {
    # The classic regular expression: '#' -> '.*' and '*' -> '[^.]+', so 'a.#' needs the dot
    # and '*' refuses the empty word.
    "regex with the dots kept": r"""
import re

def topic_matches(pattern, routing_key):
    regex = re.escape(pattern).replace(r"\*", r"[^.]+").replace(r"\#", r".*")
    return re.fullmatch(regex, routing_key) is not None
""",
    # Empty words dropped: 'a..b' becomes 'a.b' and the key '.' has no words.
    "empty words dropped": _matcher("[w for w in {}.split('.') if w]"),
    # ''.split('.') is [''], one empty word: so '*' matches the empty key.
    "the empty key is one empty word": _matcher("{}.split('.')"),
    # '#' must match at least one word.
    "'#' needs a word": _matcher(_WORDS, hash_from="j + 1"),
    # '#' takes every word the rest of the pattern leaves it, counting a later '#' as a word:
    # '#.b.#' misses 'a.b'.
    "greedy '#' without backtracking": """
def topic_matches(pattern, routing_key):
    p = pattern.split(".") if pattern else []
    k = routing_key.split(".") if routing_key else []
    j = 0
    for i, w in enumerate(p):
        if w == "#":
            rest = len(p) - i - 1
            j = max(j, len(k) - rest)
            continue
        if j >= len(k) or (w != "*" and w != k[j]):
            return False
        j += 1
    return j == len(k)
""",
    # Wildcards in the routing key treated as wildcards too.
    "wildcards in the key": _matcher(_WORDS, word_ok="(k[j] == '*' or p[i] == k[j])"),
}

ALTERNATIVES = {
    # Dynamic programming over (pattern words, key words).
    "dynamic programming": """
def topic_matches(pattern, routing_key):
    p = pattern.split(".") if pattern else []
    k = routing_key.split(".") if routing_key else []
    # ok[j]: the first i pattern words match the first j key words
    ok = [True] + [False] * len(k)
    for w in p:
        new = [False] * (len(k) + 1)
        for j in range(len(k) + 1):
            if w == "#":
                new[j] = ok[j] or (j > 0 and new[j - 1])
            elif j > 0:
                new[j] = ok[j - 1] and (w == "*" or w == k[j - 1])
        ok = new
    return ok[len(k)]
""",
    # A regular expression over the key written with a dot before every word.
    "regex, a dot before every word": r"""
import re

def topic_matches(pattern, routing_key):
    parts = []
    for w in (pattern.split(".") if pattern else []):
        if w == "#":
            parts.append(r"(?:\.[^.]*)*")
        elif w == "*":
            parts.append(r"\.[^.]*")
        else:
            parts.append(r"\." + re.escape(w))
    key = "." + routing_key if routing_key else ""
    return re.fullmatch("".join(parts), key, re.DOTALL) is not None
""",
    # Recursion on lists, with '#' trying zero words first.
    "recursion on lists": """
def topic_matches(pattern, routing_key):
    def words(s):
        return s.split(".") if s != "" else []

    def go(p, k):
        if not p:
            return not k
        head, rest = p[0], p[1:]
        if head == "#":
            return go(rest, k) or (bool(k) and go(p, k[1:]))
        if not k:
            return False
        return (head == "*" or head == k[0]) and go(rest, k[1:])

    return go(words(pattern), words(routing_key))
""",
}
