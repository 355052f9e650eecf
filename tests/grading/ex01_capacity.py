"""Plausible wrong answers (MUTANTS) and correct answers written differently (ALTERNATIVES) for
ex01_capacity. Each is Python source defining mean_wait and consumers_needed."""

_VALIDATE = """
import math

def _bad(x):
    return not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0)

def _check(rate, service, third, name):
    if _bad(rate) or _bad(service):
        raise ValueError("rate and service_time must be positive and finite")
    if name == "consumers" and third < 1:
        raise ValueError("consumers must be >= 1")
    if name == "max_wait" and _bad(third):
        raise ValueError("max_wait must be positive and finite")
"""

# The textbook formula with factorials: right for small loads, overflows for large ones.
_FACTORIAL = (
    _VALIDATE
    + """
def mean_wait(rate, service, c):
    _check(rate, service, c, "consumers")
    a = rate * service
    if c <= a:
        return math.inf
    top = a ** c / math.factorial(c) * c / (c - a)
    bottom = sum(a ** k / math.factorial(k) for k in range(c)) + top
    return top / bottom * service / (c - a)

def consumers_needed(rate, service, max_wait):
    _check(rate, service, max_wait, "max_wait")
    c = math.floor(rate * service) + 1
    while mean_wait(rate, service, c) > max_wait:
        c += 1
    return c
"""
)

# The simplest consumers_needed: the first stable count, then one more while too slow.
_NEEDED = """
def consumers_needed(rate, service, max_wait):
    _check(rate, service, max_wait, "max_wait")
    c = math.floor(rate * service) + 1
    while mean_wait(rate, service, c) > max_wait:
        c += 1
    return c
"""

# A correct Erlang C, used under the wrong consumers_needed of some mutants.
_GOOD_WAIT = (
    _VALIDATE
    + """
def mean_wait(rate, service, c):
    _check(rate, service, c, "consumers")
    a = rate * service
    if c <= a:
        return math.inf
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    erlang_c = c * b / (c - a * (1 - b))
    return erlang_c * service / (c - a)
"""
)

MUTANTS = {
    # Enough consumers to carry the load, ignoring the wait: ceil(arrival_rate * service_time).
    "ceil of the load": _GOOD_WAIT
    + """
def consumers_needed(rate, service, max_wait):
    _check(rate, service, max_wait, "max_wait")
    return math.ceil(rate * service)
""",
    # The time in the system (waiting plus service) instead of the time waiting.
    "time in system": _GOOD_WAIT.replace(
        "return erlang_c * service / (c - a)", "return erlang_c * service / (c - a) + service"
    )
    + _NEEDED,
    "factorial overflows": _FACTORIAL,
    # Off by one: the count after the smallest one that meets max_wait.
    "one consumer too many": _GOOD_WAIT
    + """
def consumers_needed(rate, service, max_wait):
    _check(rate, service, max_wait, "max_wait")
    c = math.floor(rate * service) + 1
    while mean_wait(rate, service, c) > max_wait:
        c += 1
    return c + 1
""",
    # Returns 0 for an unstable load instead of math.inf.
    "zero when unstable": _GOOD_WAIT.replace("return math.inf", "return 0.0") + _NEEDED,
    # No validation at all.
    "no ValueError": _GOOD_WAIT.replace('    _check(rate, service, c, "consumers")\n', "")
    + """
def consumers_needed(rate, service, max_wait):
    c = math.floor(rate * service) + 1
    while mean_wait(rate, service, c) > max_wait:
        c += 1
    return c
""",
    # The M/M/1 formula scaled by c: right for one consumer, wrong for more.
    "M/M/1 split c ways": _VALIDATE
    + """
def mean_wait(rate, service, c):
    _check(rate, service, c, "consumers")
    a = rate * service
    if c <= a:
        return math.inf
    rho = a / c
    return rho * service / (1 - rho)
"""
    + _NEEDED,
}

ALTERNATIVES = {
    # Log space: log(A^k / k!) with lgamma, summed with the log-sum-exp trick; binary search.
    "log space and bisection": _VALIDATE
    + """
def mean_wait(arrival_rate, service_time, consumers):
    _check(arrival_rate, service_time, consumers, "consumers")
    a = arrival_rate * service_time
    c = consumers
    if c <= a:
        return math.inf
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    last = c * math.log(a) - math.lgamma(c + 1) + math.log(c / (c - a))
    top = max(max(logs), last)
    total = sum(math.exp(x - top) for x in logs) + math.exp(last - top)
    p_wait = math.exp(last - top) / total
    return p_wait * service_time / (c - a)

def consumers_needed(arrival_rate, service_time, max_wait):
    _check(arrival_rate, service_time, max_wait, "max_wait")
    low = math.floor(arrival_rate * service_time) + 1
    high = low
    while mean_wait(arrival_rate, service_time, high) > max_wait:
        high = low + 2 * (high - low) + 1
    while low < high:
        mid = (low + high) // 2
        if mean_wait(arrival_rate, service_time, mid) <= max_wait:
            high = mid
        else:
            low = mid + 1
    return low
""",
    # The probability of no one waiting built up term by term with ratios (t_k = t_{k-1} * A / k),
    # rescaled whenever it grows, and a class holding the state of the search.
    "scaled terms": """
import math

class _Pool:
    def __init__(self, rate, service):
        for name, x in (("arrival_rate", rate), ("service_time", service)):
            if not isinstance(x, (int, float)) or not (0 < x < math.inf):
                raise ValueError(name)
        self.a = rate * service
        self.service = service

    def wait(self, c):
        a = self.a
        if c <= a:
            return math.inf
        term, total = 1.0, 1.0          # k = 0
        for k in range(1, c):
            term *= a / k
            total += term
            if term > 1e250:            # rescale before it overflows
                term /= 1e250
                total /= 1e250
        last = term * a / c * c / (c - a)
        return last / (total + last) * self.service / (c - a)

def mean_wait(arrival_rate, service_time, consumers):
    pool = _Pool(arrival_rate, service_time)
    if not consumers >= 1:
        raise ValueError("consumers")
    return pool.wait(consumers)

def consumers_needed(arrival_rate, service_time, max_wait):
    pool = _Pool(arrival_rate, service_time)
    if not (isinstance(max_wait, (int, float)) and 0 < max_wait < math.inf):
        raise ValueError("max_wait")
    c = int(pool.a) + 1
    while pool.wait(c) > max_wait:
        c += 1
    return c
""",
}
