"""Ready-made checks for the common cases, so an exercise module stays a short spec.

- :func:`examples`: worked cases, each with its own hint;
- :func:`raises`: inputs the contract says must be refused with an exception;
- :func:`agree_with_reference`: a hypothesis property, ``derandomize=True``, no database, no
  deadline: the answer must agree with a reference on generated inputs, and the shrunk
  failing input is the counterexample;
- :func:`smallest_failure`: try cases (fault schedules...) smallest first and fail with the
  first one that breaks the answer, saying how many were tried;
- :func:`close`: float comparison with a relative and an absolute tolerance.

Each returns the ``run`` function of a :class:`~brokerlab.grading.Check` (or is used inside one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter

from .sandbox import Fail, expect_type, invoke, short_repr

__all__ = [
    "HYPOTHESIS_SETTINGS",
    "Example",
    "agree_with_reference",
    "close",
    "examples",
    "raises",
    "smallest_failure",
]


def close(rel: float = 1e-9, abs_: float = 1e-300) -> Callable[[Any, Any], bool]:
    """``equal(got, expected)`` for floats: within ``rel`` relatively or ``abs_`` absolutely;
    ``inf`` equals only ``inf`` and ``nan`` never matches."""

    def equal(got: Any, expected: Any) -> bool:
        got, expected = float(got), float(expected)
        if math.isinf(expected) or math.isinf(got):
            return got == expected
        return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_)

    return equal


def _eq(got: Any, expected: Any) -> bool:
    return bool(got == expected)


def _call_text(name: str, args: tuple, kwargs: dict | None = None) -> str:
    parts = [short_repr(a, 80) for a in args] + [
        f"{k}={short_repr(v, 80)}" for k, v in (kwargs or {}).items()
    ]
    return f"{name}({', '.join(parts)})"


@dataclass(frozen=True)
class Example:
    """A worked case: ``name(*args, **kwargs)`` should return ``expect`` (compared with the
    check's ``equal``), or raise ``expect`` if it is an exception class; ``hint`` is shown when
    this case fails."""

    args: tuple
    expect: Any
    hint: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def _expect_raise(
    name: str, fn: Any, args: tuple, kwargs: dict, exc: type, hint: str | None
) -> None:
    what = _call_text(name, args, kwargs)
    try:
        got = invoke(fn, args, kwargs, what=what, passthrough=(exc,))
    except exc:
        return
    except Fail as f:
        if f.kind == "raised":
            raise Fail(
                f"{f.message[:-1]}, but the contract says it raises {exc.__name__}.",
                counterexample=what,
                kind="wrong_exception",
                hint=hint,
            ) from None
        raise
    raise Fail(
        f"{what} returned {short_repr(got, 60)}, but the contract says it raises {exc.__name__}.",
        counterexample=f"{what} -> {short_repr(got, 60)}",
        kind="no_exception",
        hint=hint,
    )


def examples(
    name: str,
    cases: Sequence[Example],
    *,
    returns: str | None = None,
    equal: Callable[[Any, Any], bool] = _eq,
    timeout: float | None = None,
) -> Callable[[dict[str, Any]], None]:
    """A check run over worked ``cases`` of the answer's ``name``; the first failing one fails,
    with its own hint. ``returns``: the type the contract names (see ``expect_type``);
    ``timeout``: seconds per call (default: the check's)."""

    def run(answer: dict[str, Any]) -> None:
        fn = answer[name]
        for case in cases:
            what = _call_text(name, case.args, case.kwargs)
            if isinstance(case.expect, type) and issubclass(case.expect, BaseException):
                _expect_raise(name, fn, case.args, case.kwargs, case.expect, case.hint)
                continue
            got = invoke(fn, case.args, case.kwargs, what=what, timeout=timeout)
            if returns is not None:
                expect_type(got, returns, what)
            if not equal(got, case.expect):
                raise Fail(
                    f"{what} returned {short_repr(got, 60)}; expected {short_repr(case.expect, 60)}.",
                    counterexample=f"{what} -> {short_repr(got, 60)} (expected "
                    f"{short_repr(case.expect, 60)})",
                    kind="example",
                    hint=case.hint,
                )

    return run


def raises(
    name: str, exc: type[BaseException], cases: Sequence[tuple], hint: str
) -> Callable[[dict[str, Any]], None]:
    """A check run: ``name(*args)`` must raise ``exc`` for every ``args`` in ``cases``."""

    def run(answer: dict[str, Any]) -> None:
        for args in cases:
            _expect_raise(name, answer[name], tuple(args), {}, exc, hint)

    return run


def HYPOTHESIS_SETTINGS(max_examples: int) -> settings:  # noqa: N802 - reads as a constant
    """Hypothesis settings for grading: derandomized, no database, no deadline, quiet; the same
    cases for every learner and every run whatever profile is loaded."""
    return settings(
        settings.get_profile("default"),
        derandomize=True,
        database=None,
        deadline=None,
        max_examples=max_examples,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
    )


class _Stop(BaseException):
    """Ends a hypothesis search at once (a timeout or flood: shrinking would only repeat it)."""


def agree_with_reference(
    name: str,
    strategy: st.SearchStrategy[tuple],
    reference: Callable[..., Any],
    *,
    equal: Callable[[Any, Any], bool] = _eq,
    returns: str | None = None,
    max_examples: int = 100,
    timeout: float | None = None,
    kind: str = "differs",
    describe: Callable[[tuple, Any, Any], str] | None = None,
) -> Callable[[dict[str, Any]], None]:
    """A check run: on inputs drawn from ``strategy`` (tuples of arguments), the answer's
    ``name`` must return what ``reference`` returns (compared with ``equal``). The smallest
    input hypothesis shrinks a failure to is the counterexample. ``timeout``: per call;
    ``describe(args, got, expected)``: the counterexample's text (default: the call, what it
    returned and what was expected)."""

    def run(answer: dict[str, Any]) -> None:
        fn = answer[name]
        failures: list[Fail] = []

        @HYPOTHESIS_SETTINGS(max_examples)
        @given(strategy)
        def agrees(args: tuple) -> None:
            args = tuple(args)
            what = _call_text(name, args)
            expected = reference(*args)
            try:
                got = invoke(fn, args, what=what, timeout=timeout)
                if returns is not None:
                    expect_type(got, returns, what)
            except Fail as f:
                failures.append(f)
                if f.kind in ("timeout", "flood"):
                    raise _Stop() from None
                raise AssertionError(f.message) from None
            if not equal(got, expected):
                text = (
                    describe(args, got, expected)
                    if describe is not None
                    else f"{what} -> {short_repr(got, 60)} (expected {short_repr(expected, 60)})"
                )
                failures.append(
                    Fail(
                        f"{what} returned {short_repr(got, 60)}; expected "
                        f"{short_repr(expected, 60)}.",
                        counterexample=text,
                        kind=kind,
                    )
                )
                raise AssertionError(what)

        try:
            with with_reporter(lambda *a: None):
                agrees()
        except _Stop:
            raise failures[-1] from None
        except Exception:
            if not failures:
                raise
            f = failures[-1]  # hypothesis replays the shrunk case last
            raise Fail(
                f.message + " (the smallest failing input found)",
                counterexample=f.counterexample,
                kind=f.kind,
                hint=f.hint,
            ) from None

    return run


def smallest_failure(
    cases: Iterable[Any], attempt: Callable[[Any], Fail | None], *, what: str = "cases"
) -> None:
    """Try ``cases`` in the order given (smallest first); ``attempt(case)`` returns a ``Fail``
    if the answer breaks on it. The first failure is raised, its counterexample followed by how
    many cases were tried; if none fails, this returns."""
    tried = 0
    for case in cases:
        tried += 1
        failure = attempt(case)
        if failure is not None:
            text = failure.counterexample or ""
            failure.counterexample = (
                f"{text}\n(found after trying {tried} {what}, smallest first)".lstrip()
            )
            raise failure
