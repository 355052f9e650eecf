"""Aggregation: what a window computes from the records that fall into it.

A windowed aggregation in Kafka Streams is ``groupByKey().windowedBy(...).aggregate(initializer,
aggregator[, merger])``; in Flink it is ``keyBy(...).window(...).aggregate(AggregateFunction)``.
Both need the same three steps, and so does this module:

- ``start(value)``: the state of a window that has just received its first record;
- ``add(state, value)``: fold one more record in;
- ``merge(a, b)``: combine two states. Session windows need this when a record bridges two
  sessions (Kafka Streams' ``Merger``, Flink's ``AggregateFunction.merge``), and the serving
  layer of the lambda architecture needs it to add a batch view and a speed view together.

The aggregations offered are the ones whose merge is exact:

=========  ===============================================================  ==================
name       result                                                           value must be
=========  ===============================================================  ==================
count      how many records                                                 anything (ignored)
sum        the sum of the values                                            a number
min, max   the smallest / largest value                                     a number
list       the values in the order they were added (Kafka Streams' tests    anything
           build strings like ``"+5+6"``; this is the same idea)
=========  ===============================================================  ==================

An average is a (sum, count) pair divided at the end; it is left out to keep the table honest.

>>> agg = aggregation("sum")
>>> agg.add(agg.start(2), 3)
5
>>> agg.merge(5, 4)
9
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any

from .errors import InvalidArgument, InvalidType

NAMES = ("count", "sum", "min", "max", "list")


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidType(
            f"value={value!r} is a {type(value).__name__}: this aggregation needs a number. "
            "Pass numeric record values, or use agg='count' or agg='list'."
        )
    return value


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: ``start``, ``add`` and ``merge`` (see the module docstring)."""

    name: str
    check: Callable[[Any], Any]
    start: Callable[[Any], Any]
    add: Callable[[Any, Any], Any]
    merge: Callable[[Any, Any], Any]

    def result(self, state: Any) -> Any:
        """The value a learner sees: lists are handed out as tuples so nobody edits state."""
        return tuple(state) if self.name == "list" else state

    def __repr__(self) -> str:
        return f"Aggregation({self.name!r})"


def _anything(value: Any) -> Any:
    return value


_TABLE = {
    "count": Aggregation("count", _anything, lambda v: 1, lambda s, v: s + 1, lambda a, b: a + b),
    "sum": Aggregation("sum", _number, lambda v: v, lambda s, v: s + v, lambda a, b: a + b),
    "min": Aggregation("min", _number, lambda v: v, min, min),
    "max": Aggregation("max", _number, lambda v: v, max, max),
    "list": Aggregation(
        "list", _anything, lambda v: [v], lambda s, v: [*s, v], lambda a, b: [*a, *b]
    ),
}


def aggregation(agg: str | Aggregation) -> Aggregation:
    """Look an aggregation up by name (``"count"``, ``"sum"``, ``"min"``, ``"max"``, ``"list"``)."""
    if isinstance(agg, Aggregation):
        return agg
    if not isinstance(agg, str) or agg not in _TABLE:
        raise InvalidArgument(
            f"agg={agg!r} is not an aggregation: use one of {', '.join(repr(n) for n in NAMES)}. "
            "Pass e.g. agg='count'."
        )
    return _TABLE[agg]
