"""Mutants and alternative correct answers for ex09_retry_policy (Python source)."""

_HEAD = """
from brokerlab.grading import DeadLetter, PermanentError, Retry

MAX_ATTEMPTS = 8
BASE = 0.1
CAP = 2.0
"""

MUTANTS = {
    # Dead-letters after the 7th failure: one try too few.
    "one try too few": _HEAD
    + """
def decide(attempt, error):
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS - 1:
        return DeadLetter("max_attempts")
    return Retry(min(CAP, BASE * 2 ** (attempt - 1)))
""",
    # Retries a poison message like any other error.
    "retries poison": _HEAD
    + """
def decide(attempt, error):
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(min(CAP, BASE * 2 ** (attempt - 1)))
""",
    # No cap: the waits keep doubling.
    "no cap": _HEAD
    + """
def decide(attempt, error):
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(BASE * 2 ** (attempt - 1))
""",
    # 2 ** attempt: every wait twice too long.
    "exponent off by one": _HEAD
    + """
def decide(attempt, error):
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(min(CAP, BASE * 2 ** attempt))
""",
    # Computes the delay before looking at the attempt: overflows for huge attempt numbers.
    "delay first": _HEAD
    + """
def decide(attempt, error):
    delay = min(CAP, BASE * 2 ** (attempt - 1))
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(delay)
""",
    # Only the exact class counts as permanent, not its subclasses.
    "type() instead of isinstance": _HEAD
    + """
def decide(attempt, error):
    if type(error) is PermanentError:
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(min(CAP, BASE * 2 ** (attempt - 1)))
""",
    # Full jitter: a random wait up to the exponential value.
    "full jitter": _HEAD
    + """
import random

def decide(attempt, error):
    if isinstance(error, PermanentError):
        return DeadLetter("permanent")
    if attempt >= MAX_ATTEMPTS:
        return DeadLetter("max_attempts")
    return Retry(random.Random(attempt).uniform(0, min(CAP, BASE * 2 ** (attempt - 1))))
""",
}

ALTERNATIVES = {
    # A table of the delays.
    "a table": _HEAD
    + """
DELAYS = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]

def decide(attempt, error):
    if isinstance(error, PermanentError):
        return DeadLetter(reason="permanent")
    if attempt < MAX_ATTEMPTS:
        return Retry(delay=DELAYS[attempt - 1])
    return DeadLetter(reason="max_attempts")
""",
    # Doubling in a loop, capped as it goes; the error test through issubclass.
    "doubling loop": """
import brokerlab.grading as g

def decide(attempt, error):
    if issubclass(type(error), g.PermanentError):
        return g.DeadLetter("permanent")
    if attempt > 7:
        return g.DeadLetter("max_attempts")
    delay = 0.1
    for _ in range(attempt - 1):
        delay = min(2.0, delay * 2)
    return g.Retry(delay)
""",
}
