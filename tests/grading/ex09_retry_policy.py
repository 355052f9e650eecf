"""Mutants and alternative correct answers for ex09_retry_policy (Python source)."""

_HEAD = """
from brokerlab.grading import DeadLetter, PermanentError, Retry

MAX_ATTEMPTS = 8
BASE = 0.1
CAP = 2.0
"""


def _policy(
    permanent: str = "isinstance(error, PermanentError)",
    last: str = "attempt >= MAX_ATTEMPTS",
    delay: str = "min(CAP, BASE * 2 ** (attempt - 1))",
    first: str = "",
) -> str:
    """The right policy with one of its parts replaced."""
    return (
        _HEAD
        + f"""
def decide(attempt, error):{first}
    if {permanent}:
        return DeadLetter("permanent")
    if {last}:
        return DeadLetter("max_attempts")
    return Retry({delay})
"""
    )


MUTANTS = {
    # Dead-letters after the 7th failure: one try too few.
    "one try too few": _policy(last="attempt >= MAX_ATTEMPTS - 1"),
    # Retries a poison message like any other error.
    "retries poison": _policy(permanent="False"),
    # No cap: the waits keep doubling.
    "no cap": _policy(delay="BASE * 2 ** (attempt - 1)"),
    # 2 ** attempt: every wait twice too long.
    "exponent off by one": _policy(delay="min(CAP, BASE * 2 ** attempt)"),
    # Computes the delay before looking at the attempt: overflows for huge attempt numbers.
    "delay first": _policy(
        delay="delay", first="\n    delay = min(CAP, BASE * 2 ** (attempt - 1))"
    ),
    # Only the exact class counts as permanent, not its subclasses.
    "type() instead of isinstance": _policy(permanent="type(error) is PermanentError"),
    # Full jitter: a random wait up to the exponential value.
    "full jitter": "import random\n"
    + _policy(delay="random.Random(attempt).uniform(0, min(CAP, BASE * 2 ** (attempt - 1)))"),
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
